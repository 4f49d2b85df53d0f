"""The one place that decides which language model riskbench uses, and how CrewAI runs.

Nothing here talks to a model unless one is configured. Set ``RISKBENCH_LLM`` to a
CrewAI/LiteLLM model name with its provider prefix (``openai/gpt-4o-mini``,
``ollama/llama3.1``, ``anthropic/claude-3-5-haiku-latest``); optionally
``RISKBENCH_LLM_BASE_URL`` (an OpenAI-compatible endpoint) and
``RISKBENCH_LLM_API_KEY`` (else the provider's own variable, such as
``OPENAI_API_KEY``, which LiteLLM reads). Without ``RISKBENCH_LLM`` every AI feature
takes its offline path.

CrewAI is imported only through :func:`import_crewai`, which first calls
:func:`crewai_environment`: telemetry and tracing off, and CrewAI's files kept under
the riskbench home (``riskbench_home() / "crewai"``) rather than the user's home.

Examples
--------
>>> llm_config({}) is None
True
>>> cfg = llm_config({"RISKBENCH_LLM": "ollama/llama3.1",
...                   "RISKBENCH_LLM_BASE_URL": "http://localhost:11434"})
>>> cfg.model, cfg.base_url, cfg.api_key_env
('ollama/llama3.1', 'http://localhost:11434', None)
>>> resolve_llm(False) is None
True
"""

from __future__ import annotations

import contextlib
import importlib
import os
import re
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from riskbench.errors import Issue, MissingDependencyError, RunError, ValidationError
from riskbench.files import environ_set, riskbench_home

__all__ = [
    "CREWAI_SWITCHES",
    "LLMConfig",
    "complete",
    "crewai_environment",
    "import_crewai",
    "llm_config",
    "model_name",
    "model_or_offline",
    "resolve_llm",
]

#: Environment switches set before CrewAI is imported, and why (CrewAI 1.15).
CREWAI_SWITCHES: dict[str, str] = {
    # crewai_core.telemetry.Telemetry._is_telemetry_disabled: any of the three stops the
    # anonymous OpenTelemetry export to telemetry.crewai.com.
    "CREWAI_DISABLE_TELEMETRY": "true",
    "OTEL_SDK_DISABLED": "true",
    "CREWAI_DISABLE_TRACKING": "true",
    # crewai.execution._tracing_disabled / should_enable_tracing: an explicit "no" to
    # execution traces, including the first-run "auto-collect and ask to share" traces.
    "CREWAI_TRACING_ENABLED": "false",
    # console_formatter: no PyPI query for a newer version (only asked when verbose).
    "CREWAI_DISABLE_VERSION_CHECK": "true",
}

_MODEL = re.compile(r"^[A-Za-z0-9_.-]+/\S+$")
_EXAMPLES = "openai/gpt-4o-mini, ollama/llama3.1, anthropic/claude-3-5-haiku-latest"
# The provider's own key variable, read by LiteLLM when RISKBENCH_LLM_API_KEY is unset.
_PROVIDER_KEYS = {
    "openai": "OPENAI_API_KEY",
    "anthropic": "ANTHROPIC_API_KEY",
    "gemini": "GEMINI_API_KEY",
    "azure": "AZURE_API_KEY",
    "mistral": "MISTRAL_API_KEY",
    "groq": "GROQ_API_KEY",
    "openrouter": "OPENROUTER_API_KEY",
    "deepseek": "DEEPSEEK_API_KEY",
}


@dataclass(frozen=True)
class LLMConfig:
    """The configured model: what :func:`resolve_llm` builds when given nothing.

    Parameters
    ----------
    model
        CrewAI/LiteLLM model name with its provider prefix (``openai/gpt-4o-mini``).
    base_url
        An OpenAI-compatible endpoint, or None for the provider's default.
    api_key_env
        The name of the environment variable that holds the key
        (``RISKBENCH_LLM_API_KEY`` when set), or None to let the provider's client find
        its own (local models need none). The key itself is never stored here.
    """

    model: str
    base_url: str | None = None
    api_key_env: str | None = None

    @property
    def provider(self) -> str:
        """The provider prefix of :attr:`model` (``openai``, ``ollama`` ...)."""
        return self.model.split("/", 1)[0]


def llm_config(environ: Mapping[str, str] | None = None) -> LLMConfig | None:
    """The model configured in the environment, or None when ``RISKBENCH_LLM`` is unset.

    Parameters
    ----------
    environ
        The environment to read; ``os.environ`` by default.

    Raises
    ------
    ValidationError
        ``RISKBENCH_LLM`` has no ``provider/`` prefix, or ``RISKBENCH_LLM_BASE_URL`` is
        not an http(s) URL.

    Examples
    --------
    >>> llm_config({"RISKBENCH_LLM": "gpt-4o"})
    Traceback (most recent call last):
    ...
    riskbench.errors.ValidationError: RISKBENCH_LLM: must be a model name with its \
provider prefix, such as openai/gpt-4o-mini, ollama/llama3.1, \
anthropic/claude-3-5-haiku-latest; got 'gpt-4o'
    """
    env = os.environ if environ is None else environ
    model = (env.get("RISKBENCH_LLM") or "").strip()
    if not model:
        return None
    issues = []
    if not _MODEL.match(model):
        issues.append(
            Issue(
                "RISKBENCH_LLM",
                f"must be a model name with its provider prefix, such as {_EXAMPLES}; "
                f"got {model!r}",
            )
        )
    base_url = (env.get("RISKBENCH_LLM_BASE_URL") or "").strip() or None
    if base_url is not None and not re.match(r"^https?://\S+$", base_url):
        issues.append(
            Issue(
                "RISKBENCH_LLM_BASE_URL",
                f"must be an http:// or https:// URL of an OpenAI-compatible endpoint, "
                f"such as http://localhost:11434/v1; got {base_url!r}",
            )
        )
    if issues:
        raise ValidationError(issues)
    key_env = "RISKBENCH_LLM_API_KEY" if env.get("RISKBENCH_LLM_API_KEY") else None
    return LLMConfig(model=model, base_url=base_url, api_key_env=key_env)


def crewai_environment(home: str | os.PathLike[str] | None = None) -> Path:
    """Set the environment CrewAI must see: telemetry and tracing off, files kept home.

    Sets every switch in :data:`CREWAI_SWITCHES`, and ``CREWAI_STORAGE_DIR`` to
    ``riskbench_home(home) / "crewai"`` (CrewAI keeps its task-output database, its
    user-data file and flow state there: ``crewai_core.paths.db_storage_path`` gives an
    absolute ``CREWAI_STORAGE_DIR`` precedence over the per-user data folder). Called
    by :func:`import_crewai` before CrewAI is imported, and before every crew run.

    Parameters
    ----------
    home
        The riskbench home; ``$RISKBENCH_HOME`` or ``~/.riskbench`` by default.

    Returns
    -------
    Path
        CrewAI's storage folder (created).
    """
    for name, value in CREWAI_SWITCHES.items():
        os.environ[name] = value
    storage = riskbench_home(home) / "crewai"
    storage.mkdir(parents=True, exist_ok=True)
    os.environ["CREWAI_STORAGE_DIR"] = str(storage.resolve())
    return storage


def _import_scope(storage: Path) -> contextlib.AbstractContextManager[None]:
    """While CrewAI is first imported: HOME inside its storage folder, no ``.env``.

    Importing CrewAI 1.15 writes under the user's home whatever the switches say (an
    encryption key in ``~/.local/share/crewai/credentials``, an empty
    ``~/.config/crewai``, both fixed at import), and loads a ``.env`` file found above
    its own package folder into ``os.environ``. Pointing HOME into the storage folder
    for the import keeps those files there; nothing later in a run writes to HOME.
    """
    home = storage / "home"
    home.mkdir(parents=True, exist_ok=True)
    return environ_set(
        {"HOME": str(home), "USERPROFILE": str(home), "PYTHON_DOTENV_DISABLED": "true"}
    )


def import_crewai() -> ModuleType:
    """CrewAI, imported after :func:`crewai_environment` has set its environment.

    Raises
    ------
    MissingDependencyError
        CrewAI is not installed (``pip install 'riskbench[agents]'``).
    """
    storage = crewai_environment()
    loaded = sys.modules.get("crewai")
    if loaded is not None:
        return loaded
    try:
        with _import_scope(storage):
            return importlib.import_module("crewai")
    except ImportError as err:
        if err.name is not None and err.name.split(".")[0] != "crewai":
            raise
        raise MissingDependencyError(
            "crewai", "agents", purpose="Drafting with a language model"
        ) from err


def resolve_llm(llm: Any = None) -> Any:
    """The model to use: a CrewAI LLM object, or None for the offline path.

    Parameters
    ----------
    llm
        None: the model configured by ``RISKBENCH_LLM`` (:func:`llm_config`), or None
        when it is unset. False: None (offline, whatever is configured). A
        ``crewai.BaseLLM`` instance (``crewai.LLM`` or a custom subclass): itself.
        A string: ``crewai.LLM(model=llm)``.

    Raises
    ------
    ValidationError
        ``llm`` is none of those, or the configuration is invalid.
    MissingDependencyError
        A model is asked for but CrewAI is not installed.
    """
    if llm is False:
        return None
    if llm is None:
        config = llm_config()
        if config is None:
            return None
        crewai = import_crewai()
        key = os.environ.get(config.api_key_env) if config.api_key_env else None
        return crewai.LLM(model=config.model, base_url=config.base_url, api_key=key)
    if isinstance(llm, str):
        config = llm_config({"RISKBENCH_LLM": llm})
        assert config is not None  # a non-empty string always configures a model
        return import_crewai().LLM(model=config.model)
    loaded = sys.modules.get("crewai")
    if loaded is not None and isinstance(llm, loaded.BaseLLM):
        return llm
    raise ValidationError(
        [
            Issue(
                "llm",
                "must be None (the RISKBENCH_LLM model), False (offline), a model name such "
                f"as 'openai/gpt-4o-mini', or a crewai.BaseLLM; got {type(llm).__name__}",
            )
        ]
    )


def model_or_offline(llm: Any = None) -> tuple[Any, str | None]:
    """:func:`resolve_llm`, except that a model configured by ``RISKBENCH_LLM`` without
    CrewAI installed gives the offline path and a note saying so, instead of an
    error: narratives and suggestions always work. An explicit ``llm`` still raises.

    Returns
    -------
    (model or None, note or None)
    """
    try:
        return resolve_llm(llm), None
    except MissingDependencyError as err:
        if llm is not None:
            raise
        return None, f"RISKBENCH_LLM is set but unusable, so the offline path was used: {err}"


def model_name(llm: Any) -> str:
    """The model's name, for notes and errors (``"openai/gpt-4o-mini"``)."""
    return str(getattr(llm, "model", None) or type(llm).__name__)


def complete(llm: Any, messages: Sequence[Mapping[str, str]] | str) -> str:
    """One call to the model; its answer as text.

    Parameters
    ----------
    llm
        A CrewAI LLM (from :func:`resolve_llm`).
    messages
        Chat messages (``{"role": ..., "content": ...}``) or a single prompt.

    Raises
    ------
    RunError
        The call failed; the message names the model and the error, never the key.
    """
    payload: Any = messages if isinstance(messages, str) else [dict(m) for m in messages]
    name = model_name(llm)
    try:
        answer = llm.call(payload)
    except Exception as err:
        raise RunError(f"the language model {name!r} failed: {_redact(str(err), llm)}") from None
    return "" if answer is None else str(answer)


def _redact(text: str, llm: Any) -> str:
    """``text`` with any API key the model holds, or the environment names, removed."""
    secrets = [getattr(llm, "api_key", None), os.environ.get("RISKBENCH_LLM_API_KEY")]
    secrets += [os.environ.get(v) for v in _PROVIDER_KEYS.values()]
    for secret in secrets:
        if isinstance(secret, str) and len(secret) >= 8:
            text = text.replace(secret, "***")
    return text
