"""What ships beside the package, checked as an operator would meet it: the licence, the
container image, docker-compose, the start command and the README's systemd unit."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APACHE_2_HEAD = "Apache License\n                           Version 2.0, January 2004"


def test_the_licence_file_is_the_licence_pyproject_names():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    text = (ROOT / "LICENSE").read_text()
    assert APACHE_2_HEAD in text
    assert "END OF TERMS AND CONDITIONS" in text
    assert len(re.findall(r"^   \d\. ", text, re.MULTILINE)) == 9  # sections 1 to 9, whole


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def test_the_image_runs_geodns_as_an_unprivileged_user_on_unprivileged_ports():
    steps = dockerfile_instructions()
    users = [value for op, value in steps if op == "USER"]
    assert users and users[-1] not in ("root", "0"), users
    user_at = max(i for i, (op, _) in enumerate(steps) if op == "USER")
    assert user_at < [op for op, _ in steps].index("ENTRYPOINT")
    env = " ".join(value for op, value in steps if op == "ENV")
    dns_port = int(re.search(r"GEODNS_DNS=[0-9.]+:(\d+)", env).group(1))
    assert dns_port >= 1024  # no capability needed inside the container
    exposed = " ".join(value for op, value in steps if op == "EXPOSE")
    assert f"{dns_port}/udp" in exposed and f"{dns_port}/tcp" in exposed


def test_an_image_api_on_every_address_is_said_so_in_the_readme():
    env = " ".join(value for op, value in dockerfile_instructions() if op == "ENV")
    if "GEODNS_API=0.0.0.0" in env:
        readme = (ROOT / "README.md").read_text()
        assert "### Containers" in readme
        section = readme.split("### Containers", 1)[1].split("\n### ", 1)[0]
        assert "0.0.0.0:8053" in section and "127.0.0.1:8053:8053" in section


def test_compose_publishes_dns_to_the_port_the_image_listens_on():
    env = " ".join(value for op, value in dockerfile_instructions() if op == "ENV")
    dns_port = re.search(r"GEODNS_DNS=[0-9.]+:(\d+)", env).group(1)
    compose = (ROOT / "docker-compose.yml").read_text()
    published = re.findall(r'"(?:[0-9.]+:)?(\d+):(\d+)/(udp|tcp)"', compose)
    dns = [(host, inside, proto) for host, inside, proto in published if inside != "8053"]
    assert dns and all(inside == dns_port for _, inside, _ in dns), dns


def test_starts_seed_the_example_pools_into_a_new_database_only():
    run = (ROOT / "run").read_text()
    compose = (ROOT / "docker-compose.yml").read_text()
    for text in (run, compose):
        applies = re.findall(r"geodns pools apply[^\n&\"]*", text)
        assert applies, text
        assert all("--if-new" in line for line in applies), applies


def readme_unit() -> str:
    readme = (ROOT / "README.md").read_text()
    match = re.search(r"/etc/systemd/system/geodns\.service`?:?\n\n```ini\n(.*?)```", readme, re.S)
    assert match, "the README has no systemd unit"
    return match.group(1)


def test_the_readme_systemd_unit_binds_port_53_as_its_own_user():
    unit = readme_unit()
    service = dict(
        line.split("=", 1) for line in unit.split("[Service]", 1)[1].splitlines() if "=" in line
    )
    assert service["User"] not in ("root", "0")
    assert service["AmbientCapabilities"] == "CAP_NET_BIND_SERVICE"
    assert service["ExecStart"].split()[1:] == ["serve"]
    assert service["ExecReload"] == "/bin/kill -HUP $MAINPID"


def test_the_readme_systemd_unit_is_one_systemd_accepts(tmp_path):
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed (Debian package systemd; ./run test installs it)"
    unit = readme_unit()
    command = re.search(r"^ExecStart=(\S+)", unit, re.MULTILINE).group(1)
    # the README's install path does not exist here: check it with this checkout's geodns
    here = Path(sys.executable).parent / "geodns"
    path = tmp_path / "geodns.service"
    path.write_text(unit.replace(command, str(here)))
    result = subprocess.run(
        [analyze, "verify", str(path)], capture_output=True, text=True, timeout=60
    )
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
