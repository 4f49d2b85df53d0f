"""JupyterHub for riskbench: `make hub` runs it on 127.0.0.1.

- Login: a shared password (``RISKBENCH_HUB_PASSWORD``, else one generated into
  ``$RISKBENCH_HUB_DIR/password``), for the users listed in ``RISKBENCH_HUB_USERS``
  (default ``examples/hub_users.yaml``). No outside service is needed. To use your
  identity provider instead, set ``c.JupyterHub.authenticator_class`` to
  ``"generic-oauth"`` (``pip install oauthenticator``; client id, secret and URLs from
  your provider) or ``"ldapauthenticator.LDAPAuthenticator"`` (``pip install
  jupyterhub-ldapauthenticator``; server address and bind template), keeping
  ``allowed_users`` from the users file so that each login still maps to an
  organisation and a role.
- Servers: each user's Jupyter server runs locally (``simple`` spawner, same system
  user), in this checkout, with ``RISKBENCH_ORG``, ``RISKBENCH_USER`` and
  ``RISKBENCH_ROLE`` from the users file in its environment; before it starts, the
  user is made a member of that organisation with that role (``riskbench db grant``,
  audited as "jupyterhub"). The workspace's row-level security then confines the server
  to the organisation, and the role decides what the user may do there.
- The dashboard: ``/user/NAME/voila/render/notebooks/dashboard.ipynb`` (Voila inside the
  user's server, behind the hub's login; an anonymous request is sent to the login
  page). Quants use ``/user/NAME/lab``.
- Idle culling: kernels idle for ``RISKBENCH_HUB_KERNEL_IDLE`` seconds (default 600)
  are shut down by each server, and servers idle for ``RISKBENCH_HUB_SERVER_IDLE``
  seconds (default 3600) by the jupyterhub-idle-culler service.
- Scheduled runs: with ``RISKBENCH_HUB_SCHEDULER_ORGS`` set (organisation ids, comma
  separated), the hub runs one ``riskbench scheduler`` service per organisation (as the
  workspace user ``scheduler``, made an analyst there first), polling every
  ``RISKBENCH_HUB_SCHEDULER_POLL`` seconds (default 30); the hub restarts it if it dies.
  Users add schedules with ``riskbench schedule add`` in their server's terminal.

Ports: ``RISKBENCH_HUB_PORT`` (default 8000) for the proxy, ``RISKBENCH_HUB_API_PORT``
(default 8081) for the hub itself. The hub's database, cookie secret and proxy token
live in ``RISKBENCH_HUB_DIR`` (default ``.hub/`` in the checkout).
"""

# ruff: noqa: F821  (`c` is the configuration object JupyterHub provides)
from __future__ import annotations

import os
import secrets
import shlex
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent
VENV_BIN = Path(sys.executable).parent
STATE = Path(os.environ.get("RISKBENCH_HUB_DIR", ROOT / ".hub")).resolve()
STATE.mkdir(parents=True, exist_ok=True)
ROLES = ("viewer", "analyst", "admin")


def _users(path: Path) -> dict[str, dict[str, str]]:
    """The users file: ``users: {name: {org: ..., role: viewer|analyst|admin}}``."""
    data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    users = data.get("users")
    problems = []
    if not isinstance(users, dict) or not users:
        raise SystemExit(f"{path}: users: must map user names to {{org, role}}, got {users!r}")
    for name, entry in users.items():
        if not isinstance(entry, dict) or not entry.get("org"):
            problems.append(f"users.{name}.org: is required")
        elif entry.get("role", "viewer") not in ROLES:
            problems.append(
                f"users.{name}.role: must be one of {', '.join(ROLES)}, got {entry.get('role')!r}"
            )
    if problems:
        raise SystemExit(f"{path}: " + "; ".join(problems))
    return {
        str(k): {"org": str(v["org"]), "role": str(v.get("role", "viewer"))}
        for k, v in users.items()
    }


def _password() -> str:
    given = os.environ.get("RISKBENCH_HUB_PASSWORD")
    if given:
        return given
    stored = STATE / "password"
    if not stored.exists():
        stored.write_text(secrets.token_urlsafe(12) + "\n", encoding="utf-8")
        stored.chmod(0o600)
        print(f"riskbench hub: the shared password is in {stored}", file=sys.stderr)
    return stored.read_text(encoding="utf-8").strip()


USERS = _users(Path(os.environ.get("RISKBENCH_HUB_USERS", ROOT / "examples" / "hub_users.yaml")))

# -- network: everything on 127.0.0.1 --------------------------------------------------
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = int(os.environ.get("RISKBENCH_HUB_PORT", "8000"))
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = int(os.environ.get("RISKBENCH_HUB_API_PORT", "8081"))
c.ConfigurableHTTPProxy.command = [
    os.environ.get(
        "RISKBENCH_HUB_PROXY",
        str(ROOT / ".hub-proxy" / "node_modules" / ".bin" / "configurable-http-proxy"),
    )
]
c.ConfigurableHTTPProxy.api_url = (
    f"http://127.0.0.1:{int(os.environ.get('RISKBENCH_HUB_PROXY_API_PORT', '8001'))}"
)
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.JupyterHub.pid_file = str(STATE / "jupyterhub.pid")

# -- who may log in -------------------------------------------------------------------
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = _password()
c.Authenticator.allowed_users = set(USERS)

# -- their servers ----------------------------------------------------------------------
c.JupyterHub.spawner_class = "simple"
# A link to a stopped server (e.g. the dashboard's) starts it instead of stopping at a
# "launch server" page.
c.JupyterHub.implicit_spawn_seconds = 0.5
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.notebook_dir = str(ROOT)
c.Spawner.default_url = "/lab"
c.Spawner.start_timeout = 120
c.Spawner.http_timeout = 120
_kernel_idle = int(os.environ.get("RISKBENCH_HUB_KERNEL_IDLE", "600"))
_MATHJAX_MODULES = ROOT / ".hub-mathjax" / "node_modules"  # holds only mathjax/
c.Spawner.args = [
    f"--MappingKernelManager.cull_idle_timeout={_kernel_idle}",
    f"--MappingKernelManager.cull_interval={max(1, min(60, _kernel_idle // 2))}",
    # Voila inside the server: riskbench's template (no CDN) and no Panel lab extension
    "--VoilaConfiguration.template=riskbench",
    '--VoilaConfiguration.extension_denylist=["@pyviz/jupyterlab_pyviz"]',
    # MathJax 2 from npm (make installs it), served by the server at static/mathjax/:
    # Voila's page would otherwise load it from cdnjs.
    f"--ServerApp.extra_static_paths=['{_MATHJAX_MODULES}']",
]
if os.getuid() == 0:  # a server refuses to run as root unless told
    c.Spawner.args.append("--allow-root")
_jupyter = str(ROOT / "templates" / "jupyter")


def _user(spawner: object, key: str) -> str:
    return USERS[spawner.user.name][key]  # type: ignore[attr-defined]


_BASE_ARGS = list(c.Spawner.args)


def _before_spawn(spawner: object) -> None:
    """Before a server starts: its user is a member of their organisation with the
    role the users file gives (as the database administrator; audited), and its Voila
    loads MathJax from the server (the URL holds the user's base URL)."""
    from riskbench.workspace.server import grant

    name = spawner.user.name  # type: ignore[attr-defined]
    mathjax = f"{spawner.user.base_url}static/mathjax/MathJax.js"  # type: ignore[attr-defined]
    spawner.args = [  # type: ignore[attr-defined]
        *_BASE_ARGS,
        f"--ServerApp.tornado_settings={{'mathjax_url': '{mathjax}'}}",
    ]
    grant(
        _user(spawner, "org"),
        name,
        _user(spawner, "role"),
        url=os.environ.get("RISKBENCH_DATABASE_URL") or None,
        actor="jupyterhub",
    )


c.Spawner.pre_spawn_hook = _before_spawn
c.Spawner.environment = {
    "RISKBENCH_ORG": lambda spawner: _user(spawner, "org"),
    "RISKBENCH_USER": lambda spawner: spawner.user.name,
    "RISKBENCH_ROLE": lambda spawner: _user(spawner, "role"),
    "JUPYTER_PATH": _jupyter,
    "PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}",
}
for _name in (
    "RISKBENCH_HOME",
    "RISKBENCH_DATABASE_URL",
    "RISKBENCH_CLICKHOUSE_URL",
    "RISKBENCH_LLM",
):
    if _name in os.environ:
        c.Spawner.environment[_name] = os.environ[_name]

# -- idle servers are stopped -------------------------------------------------------------
c.JupyterHub.load_roles = [
    {
        "name": "idle-culler",
        "scopes": ["list:users", "read:users:activity", "read:servers", "delete:servers"],
        "services": ["idle-culler"],
    }
]
c.JupyterHub.services = [
    {
        "name": "idle-culler",
        "command": [
            sys.executable,
            "-m",
            "jupyterhub_idle_culler",
            f"--timeout={int(os.environ.get('RISKBENCH_HUB_SERVER_IDLE', '3600'))}",
        ],
    }
]

# -- scheduled notebook runs, one scheduler per organisation --------------------------------
# A managed service (the hub starts it, and restarts it if it exits); it needs no hub API
# access. Several schedulers for one organisation are safe: PostgreSQL row locks give each
# due run to exactly one of them.
_SCHEDULER_POLL = float(os.environ.get("RISKBENCH_HUB_SCHEDULER_POLL", "30"))
for _org in filter(None, os.environ.get("RISKBENCH_HUB_SCHEDULER_ORGS", "").split(",")):
    _org = _org.strip()
    _riskbench = f"{shlex.quote(sys.executable)} -m riskbench"
    c.JupyterHub.services.append(
        {
            "name": f"scheduler-{_org}",
            "command": [
                "sh",
                "-c",
                f"{_riskbench} db grant --org {shlex.quote(_org)} --user scheduler "
                f"--role analyst && exec {_riskbench} scheduler --org {shlex.quote(_org)} "
                f"--user scheduler --poll {_SCHEDULER_POLL}",
            ],
            "cwd": str(ROOT),
            "environment": {
                k: os.environ[k]
                for k in ("RISKBENCH_HOME", "RISKBENCH_DATABASE_URL", "RISKBENCH_LLM", "PATH")
                if k in os.environ
            },
        }
    )

# -- dask-gateway (off): per-user Dask clusters behind the hub's login ------------------
# Checked by hand with dask-gateway 2026.3 (docs/scale-out.md, which also has the
# gateway's own dask_gateway_config.py); not part of the test suite. To use it, remove
# the leading '# ' from the block below.
# # Needs `pip install dask-gateway-server dask-gateway` in the hub's environment and
# # dask-gateway in the users'. DASK_GATEWAY_API_TOKEN is a shared secret:
# #   export DASK_GATEWAY_API_TOKEN=$(openssl rand -hex 32)
# # Ports: the hub takes 8000 (proxy), 8001 (proxy API) and 8081 (hub API); the gateway
# # takes 8020 (its API, for the users) and 8021 (the schedulers' traffic).
# _GATEWAY_TOKEN = os.environ.get("DASK_GATEWAY_API_TOKEN")
# _GATEWAY_URL = os.environ.get("DASK_GATEWAY_URL", "http://127.0.0.1:8020")
# if _GATEWAY_TOKEN:
#     c.JupyterHub.services.append(
#         {
#             "name": "dask-gateway",
#             "api_token": _GATEWAY_TOKEN,
#             # A managed service: the hub starts the gateway and restarts it if it exits
#             # (leave "command" out to run the gateway yourself: systemd, Kubernetes).
#             "command": [
#                 str(VENV_BIN / "dask-gateway-server"),
#                 "--config",
#                 str(ROOT / "dask_gateway_config.py"),
#             ],
#             "environment": {"DASK_GATEWAY_API_TOKEN": _GATEWAY_TOKEN},
#         }
#     )
#     # The gateway knows its service name (JUPYTERHUB_SERVICE_NAME) and then accepts
#     # only tokens with access to it: give it to every user, and to the token each
#     # user's server gets (JUPYTERHUB_API_TOKEN), which the notebooks log in with.
#     c.JupyterHub.load_roles += [
#         {"name": "user", "scopes": ["self", "access:services!service=dask-gateway"]},
#         {
#             "name": "server",
#             "scopes": [
#                 "users:activity!user",
#                 "access:servers!server",
#                 "access:services!service=dask-gateway",
#             ],
#         },
#     ]
#     # dask_gateway.Gateway() then needs no arguments in a notebook.
#     c.Spawner.environment.update(
#         {
#             "DASK_GATEWAY__ADDRESS": _GATEWAY_URL,
#             "DASK_GATEWAY__PROXY_ADDRESS": "gateway://127.0.0.1:8021",
#             "DASK_GATEWAY__AUTH__TYPE": "jupyterhub",
#         }
#     )
