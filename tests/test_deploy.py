"""docker-compose.yml, deploy/Caddyfile and .env.example, checked against the bot's own code.

No machine this project runs on has Docker, so the files are read here: the services and
their variables, the volumes each replica needs, and the path and port Caddy proxies to,
tried on the bot's real webhook server. Where `caddy` or `docker compose` is installed,
they check the files too.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import pytest
import yaml
from sqlalchemy.engine import make_url

import bot.telegram.app as telegram_app
from bot.config import Settings
from bot.telegram.webhook import MAX_UPDATE_BYTES, SECRET_HEADER, WebhookServer
from tests.conftest import REPO_ROOT

COMPOSE = REPO_ROOT / "docker-compose.yml"
CADDYFILE = REPO_ROOT / "deploy" / "Caddyfile"
ENV_EXAMPLE = REPO_ROOT / ".env.example"
DOCKERFILE = REPO_ROOT / "Dockerfile"

BOTS = ("bot-1", "bot-2")
REQUIRED = {
    "AGRIBOT_TELEGRAM_TOKEN",
    "AGRIBOT_ADMIN_IDS",
    "AGRIBOT_WEBHOOK_SECRET",
    "AGRIBOT_WEBHOOK_URL",
    "AGRIBOT_DATABASE_URL",
    "AGRIBOT_LISTEN_HOST",
}
SECRETS = {
    "AGRIBOT_TELEGRAM_TOKEN",
    "AGRIBOT_WEBHOOK_SECRET",
    "AGRIBOT_WEB_SECRET",
    "POSTGRES_PASSWORD",
}
DEPLOY_ONLY = {"AGRIBOT_DOMAIN", "POSTGRES_PASSWORD"}  # the deployment's, not the bot's
# what an operator puts in .env
SAMPLE_ENV = {
    "AGRIBOT_TELEGRAM_TOKEN": "123456789:AAtest-token",
    "AGRIBOT_ADMIN_IDS": "11111111,22222222",
    "AGRIBOT_WEBHOOK_SECRET": "s3cret_from_the-env_file",
    "AGRIBOT_DOMAIN": "bot.example.lk",
    "AGRIBOT_WEB_SECRET": "a-desk-secret-of-more-than-32-characters",
    "POSTGRES_PASSWORD": "0123456789abcdef",
}
VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?P<op>:?[-?])?(?P<arg>[^}]*)\}")
SIZE = re.compile(r"(?P<number>\d+)(?P<unit>[KMG]i?B)?")
SIZE_UNITS = {None: 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KiB": 2**10, "MiB": 2**20}


def interpolate(value: Any, env: dict[str, str]) -> Any:
    """Substitute `${VAR}`, `${VAR:-default}` and `${VAR:?message}` as compose does."""
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if not isinstance(value, str):
        return value

    def substitute(match: re.Match[str]) -> str:
        given = env.get(match["name"], "")
        if not given and match["op"] == ":?":
            raise LookupError(f"{match['name']}: {match['arg']}")
        return given or (match["arg"] if match["op"] == ":-" else "")

    return VARIABLE.sub(substitute, value)


@dataclass
class Directive:
    """One Caddyfile line: its words, and the block it opens."""

    words: list[str]
    block: list[Directive] = field(default_factory=list)

    def find(self, name: str) -> list[Directive]:
        """Directives named `name` anywhere inside this one's block."""
        found = [each for each in self.block if each.words[0] == name]
        return found + [deeper for each in self.block for deeper in each.find(name)]

    def one(self, name: str) -> Directive:
        [found] = self.find(name)
        return found


def parse_caddyfile(text: str) -> Directive:
    root = Directive(["(root)"])
    stack = [root]
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if words == ["}"]:
            stack.pop()
        elif words:
            opens = words[-1] == "{"
            directive = Directive(words[:-1] if opens else words)
            stack[-1].block.append(directive)
            if opens:
                stack.append(directive)
    assert len(stack) == 1, "the Caddyfile's braces do not balance"
    return root


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    """The services as `docker compose up` runs them with SAMPLE_ENV in .env."""
    return interpolate(compose["services"], SAMPLE_ENV)


@pytest.fixture(scope="module")
def caddy_sites() -> dict[str, Directive]:
    return {
        " ".join(site.words): site
        for site in parse_caddyfile(CADDYFILE.read_text(encoding="utf-8")).block
    }


@pytest.fixture(scope="module")
def caddy_site(caddy_sites: dict[str, Directive]) -> Directive:
    """The site Telegram posts to."""
    return caddy_sites["{$AGRIBOT_DOMAIN}"]


@pytest.fixture(scope="module")
def webhook_route(caddy_site: Directive) -> Directive:
    """The matcher of the `handle` that reverse-proxies: what reaches the bots."""
    [handle] = [each for each in caddy_site.find("handle") if each.find("reverse_proxy")]
    assert len(handle.words) == 2, "the proxied route needs a matcher"
    return caddy_site.one(handle.words[1])


@pytest.fixture(scope="module")
def started(services: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """What `run_bot` hands the webhook server (host, port, url, path, secret), per bot."""
    captured: dict[str, dict[str, Any]] = {}
    with pytest.MonkeyPatch.context() as patch:
        for name in BOTS:
            for variable in [v for v in os.environ if v.startswith("AGRIBOT_")]:
                patch.delenv(variable)
            for variable, value in services[name]["environment"].items():
                patch.setenv(variable, str(value))

            async def serve_webhook(application: object, *, name: str = name, **kw: Any) -> None:
                captured[name] = kw

            patch.setattr(telegram_app, "build_application", lambda settings, services: None)
            patch.setattr(telegram_app, "serve_webhook", serve_webhook)
            no_services = SimpleNamespace(close=lambda: None)  # closed if the settings fail
            telegram_app.run_bot(Settings(_env_file=None), no_services)
    return captured


def test_compose_runs_postgres_two_bots_and_caddy(compose):
    assert set(compose["services"]) == {"postgres", *BOTS, "caddy"}


def test_each_bot_builds_the_dockerfile_and_runs_agribot_serve(services):
    for name in BOTS:
        bot = services[name]
        build = bot["build"] if isinstance(bot["build"], dict) else {"context": bot["build"]}
        built = REPO_ROOT / build["context"] / build.get("dockerfile", "Dockerfile")
        assert built.resolve() == DOCKERFILE.resolve(), name
        command = bot["command"]
        assert (command if isinstance(command, str) else " ".join(command)) == "agribot serve"
        assert bot["restart"] == "unless-stopped"
        assert "ports" not in bot, f"{name} speaks plain HTTP: only Caddy may publish ports"


def test_each_bot_sets_every_required_variable_and_only_real_settings(services):
    fields = set(Settings.model_fields)
    for name in BOTS:
        environment = services[name]["environment"]
        assert set(environment) >= REQUIRED, name
        for variable in environment:
            assert variable.removeprefix("AGRIBOT_").lower() in fields, variable


def test_every_agribot_variable_compose_reads_is_a_setting_or_the_domain(compose):
    fields = set(Settings.model_fields)
    read = {match["name"] for match in VARIABLE.finditer(COMPOSE.read_text(encoding="utf-8"))}
    for variable in read - DEPLOY_ONLY:
        assert variable.startswith("AGRIBOT_"), variable
        assert variable.removeprefix("AGRIBOT_").lower() in fields, variable


def test_secrets_come_only_from_the_environment_and_compose_refuses_without_them(compose):
    text = COMPOSE.read_text(encoding="utf-8")
    assert re.search(r"\$(?![{$])", text) is None, "a $VAR without braces, or a stray $"
    for match in VARIABLE.finditer(text):
        # an unset variable must stop compose (:?) or have a default (:-), never be empty
        assert match["op"] in {":?", ":-"}, match[0]
        if match["name"] in SECRETS:
            assert match["op"] == ":?", match[0]
    for name in BOTS:
        environment = compose["services"][name]["environment"]
        for variable in SECRETS & set(environment):
            assert re.fullmatch(VARIABLE, environment[variable]), f"{variable} is a literal"
    password = compose["services"]["postgres"]["environment"]["POSTGRES_PASSWORD"]
    assert re.fullmatch(VARIABLE, password), "POSTGRES_PASSWORD is a literal"
    for secret in SECRETS:
        with pytest.raises(LookupError, match=secret):
            interpolate(compose["services"], {k: v for k, v in SAMPLE_ENV.items() if k != secret})


def test_env_example_names_every_variable_and_holds_no_secret():
    read = {match["name"] for match in VARIABLE.finditer(COMPOSE.read_text(encoding="utf-8"))}
    lines = ENV_EXAMPLE.read_text(encoding="utf-8").splitlines()
    example = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert read <= set(example), f"missing from .env.example: {read - set(example)}"
    for secret in SECRETS:
        assert example[secret] == "", f"{secret} has a value in .env.example"


def test_bots_start_in_webhook_mode_with_the_shared_database(services, started):
    postgres = services["postgres"]["environment"]
    for name in BOTS:
        assert started[name]["host"] == "0.0.0.0"
        assert started[name]["url"] == f"https://{SAMPLE_ENV['AGRIBOT_DOMAIN']}/agribot"
        assert started[name]["secret"] == SAMPLE_ENV["AGRIBOT_WEBHOOK_SECRET"]
        url = make_url(services[name]["environment"]["AGRIBOT_DATABASE_URL"])
        assert url.get_backend_name() == "postgresql"
        assert (url.host, url.port or 5432) == ("postgres", 5432)
        assert (url.username, url.password, url.database) == (
            postgres["POSTGRES_USER"],
            postgres["POSTGRES_PASSWORD"],
            postgres["POSTGRES_DB"],
        )


def test_bots_wait_for_a_healthy_postgres_and_bot_2_for_bot_1(compose, services):
    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "pg_isready" in postgres["healthcheck"]["test"]
    [data] = [v for v in postgres["volumes"] if v.endswith(":/var/lib/postgresql/data")]
    assert data.split(":")[0] in compose["volumes"], "the database needs a named volume"
    for name in BOTS:
        assert services[name]["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    # one replica at a time migrates and seeds an empty database
    assert services["bot-2"]["depends_on"]["bot-1"]["condition"] == "service_healthy"


def test_each_replica_has_its_own_data_dir_and_shares_models_and_media(compose, services):
    dockerfile = DOCKERFILE.read_text(encoding="utf-8")
    [data_dir] = re.findall(r"AGRIBOT_DATA_DIR=(\S+)", dockerfile)
    settings = Settings(_env_file=None, data_dir=Path(data_dir))
    shared = {str(settings.models_dir), str(settings.media_dir)}
    mounts = {}
    for name in BOTS:
        assert "AGRIBOT_DATA_DIR" not in services[name]["environment"]
        mounts[name] = dict(reversed(v.split(":")[:2]) for v in services[name]["volumes"])
        assert set(mounts[name]) == {data_dir, *shared}, name
        assert set(mounts[name].values()) <= set(compose["volumes"]), "named volumes only"
    one, two = (mounts[name] for name in BOTS)
    assert one[data_dir] != two[data_dir], "each replica needs its own inbox and journal"
    for target in shared:
        assert one[target] == two[target], f"{target} must be the same volume in both"
        assert re.search(rf"mkdir -p [^\n&]*{re.escape(target)}\b", dockerfile), (
            f"the image must create {target} so a volume there belongs to agribot"
        )
    assert f"chown -R agribot {data_dir}" in dockerfile


def test_caddy_serves_the_domain_with_tls_and_mounts_the_caddyfile(compose, caddy_site):
    caddy = compose["services"]["caddy"]
    image, tag = caddy["image"].split(":")
    # up to 2.11.1, Caddy answered 502 where it should post the update to the other replica
    assert image == "caddy" and tuple(map(int, tag.split("."))) >= (2, 11), caddy["image"]
    assert {p.split(":")[-1] for p in caddy["ports"]} >= {"80", "443"}
    assert caddy_site.words == ["{$AGRIBOT_DOMAIN}"], "the site is the domain, hence HTTPS"
    assert "AGRIBOT_DOMAIN" in caddy["environment"]
    mounts = {v.split(":")[1]: v.split(":") for v in caddy["volumes"]}
    source, _, mode = mounts["/etc/caddy/Caddyfile"]
    assert (REPO_ROOT / source).resolve() == CADDYFILE.resolve() and mode == "ro"
    assert {"/data", "/config"} <= set(mounts), "certificates must outlive the container"
    for target in ("/data", "/config"):
        assert mounts[target][0] in compose["volumes"]


def test_caddy_proxies_posts_on_the_webhook_path_to_both_bots_on_their_port(
    caddy_site, webhook_route, started
):
    assert webhook_route.one("method").words[1:] == ["POST"]
    paths = webhook_route.one("path").words[1:]
    [proxy] = caddy_site.find("reverse_proxy")  # nothing else reaches the bots
    upstreams = {f"{name}:{started[name]['port']}" for name in BOTS}
    assert set(proxy.words[1:]) == upstreams
    for name in BOTS:
        assert started[name]["path"] in paths, "Telegram posts to the webhook URL's path"
    for setting in ("lb_policy", "health_uri", "health_status", "fail_duration"):
        assert proxy.find(setting), setting
    size = SIZE.fullmatch(caddy_site.one("max_size").words[1])
    assert size and int(size["number"]) * SIZE_UNITS[size["unit"]] <= MAX_UPDATE_BYTES


def test_caddy_serves_the_desk_of_both_bots_on_its_own_port(compose, services, caddy_sites):
    assert set(caddy_sites) == {"{$AGRIBOT_DOMAIN}", "{$AGRIBOT_DOMAIN}:8444"}
    desk = caddy_sites["{$AGRIBOT_DOMAIN}:8444"]
    assert "8444:8444" in compose["services"]["caddy"]["ports"]
    [proxy] = desk.find("reverse_proxy")
    upstreams = set()
    for name in BOTS:
        environment = services[name]["environment"]
        settings = Settings(
            _env_file=None,
            web_port=environment["AGRIBOT_WEB_PORT"],
            web_host=environment["AGRIBOT_WEB_HOST"],
            web_base_url=environment["AGRIBOT_WEB_BASE_URL"],
            web_secret=environment["AGRIBOT_WEB_SECRET"],
        )
        assert settings.web_host == "0.0.0.0"  # reachable from Caddy's container
        assert settings.desk_url == f"https://{SAMPLE_ENV['AGRIBOT_DOMAIN']}:8444"
        upstreams.add(f"{name}:{settings.web_port}")
    assert set(proxy.words[1:]) == upstreams
    assert proxy.one("lb_policy").words[1] == "cookie", "an officer stays on one replica"
    one, two = (compose["services"][name]["environment"]["AGRIBOT_WEB_SECRET"] for name in BOTS)
    assert one == two == "${AGRIBOT_WEB_SECRET:?set AGRIBOT_WEB_SECRET in .env}"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_the_bots_webhook_server_takes_what_caddy_routes_and_checks(
    services, webhook_route, caddy_site, started
):
    """Caddy's paths reach the update handler (403 without the secret, not 404), its health
    check gets the status it expects, and so does the compose healthcheck."""
    path = started["bot-1"]["path"]
    health_uri = caddy_site.one("health_uri").words[1]
    health_status = int(caddy_site.one("health_status").words[1])
    [*_, code] = services["bot-1"]["healthcheck"]["test"]
    port = free_port()

    async def healthcheck(listen_port: int) -> int:
        env = {
            "AGRIBOT_LISTEN_PORT": str(listen_port),
            "AGRIBOT_WEBHOOK_URL": started["bot-1"]["url"],
        }
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-c", code, env=env, stderr=subprocess.DEVNULL
        )
        return await process.wait()

    async def check() -> None:
        # every request here is refused before the handler touches the Application
        server = WebhookServer(None, "127.0.0.1", port, path, "x" * 16)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
                for routed in webhook_route.one("path").words[1:]:
                    assert (await client.post(routed, json={})).status_code == 403, routed
                    wrong = {SECRET_HEADER: "y" * 16}
                    response = await client.post(routed, json={}, headers=wrong)
                    assert response.status_code == 403, routed
                assert (await client.post(path + "-elsewhere", json={})).status_code == 404
                assert (await client.get(health_uri)).status_code == health_status
            assert await healthcheck(port) == 0
            assert await healthcheck(free_port()) != 0
        finally:
            await server.stop()

    asyncio.run(check())


@pytest.mark.skipif(shutil.which("caddy") is None, reason="caddy is not installed")
def test_caddy_adapts_the_caddyfile():
    env = {"PATH": os.environ["PATH"], "AGRIBOT_DOMAIN": SAMPLE_ENV["AGRIBOT_DOMAIN"]}
    command = ["caddy", "adapt", "--adapter", "caddyfile", "--config", str(CADDYFILE)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"dial":"bot-2:' in result.stdout.replace(" ", "")


def docker_compose() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    return ["docker-compose"] if shutil.which("docker-compose") else None


@pytest.mark.skipif(docker_compose() is None, reason="docker compose is not installed")
def test_docker_compose_accepts_the_file_and_refuses_without_env(tmp_path):
    empty = tmp_path / "empty.env"
    empty.write_text("")
    command = [*docker_compose(), "--env-file", str(empty), "-f", str(COMPOSE), "config", "-q"]
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path)}
    accepted = subprocess.run(command, env=env | SAMPLE_ENV, capture_output=True, timeout=120)
    assert accepted.returncode == 0, accepted.stderr
    for missing in SAMPLE_ENV:
        given = {k: v for k, v in SAMPLE_ENV.items() if k != missing}
        refused = subprocess.run(command, env=env | given, capture_output=True, text=True)
        assert refused.returncode != 0 and missing in refused.stderr, missing
