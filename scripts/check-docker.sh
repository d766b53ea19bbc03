#!/usr/bin/env bash
# Checks the Dockerfile and docker-compose.yml without a Docker engine: what
# can be checked statically is checked here (the test command runs it).
#   - both stages start from Debian 12; the image runs as a non-root user with
#     `sluice` as its entrypoint
#   - every file or folder the Dockerfile COPYs exists, and .dockerignore keeps
#     build folders out of the context
#   - every cmake command the Dockerfile runs appears word for word in README.md
#   - every package the build stage installs is one scripts/install-deps.sh installs
#   - docker-compose.yml has postgres, migrate, scheduler, worker-1, worker-2 and
#     web, and (with --sluice BIN) each service's command is one `sluice` accepts
# Usage: scripts/check-docker.sh [--root DIR] [--sluice BIN]
# Exit: 0 all good; 1 problems found (each printed).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
sluice=""
while [ $# -gt 0 ]; do
  case "$1" in
    --root) root="$2"; shift 2 ;;
    --sluice) sluice="$2"; shift 2 ;;
    *) echo "usage: scripts/check-docker.sh [--root DIR] [--sluice BIN]" >&2; exit 1 ;;
  esac
done

python3 - "$root" "$sluice" <<'PY'
import os, re, shlex, subprocess, sys

root, sluice = sys.argv[1], sys.argv[2]
problems = []

def read(name):
    path = os.path.join(root, name)
    if not os.path.exists(path):
        problems.append(f"{name} is missing")
        return ""
    with open(path) as f:
        return f.read()

dockerfile = read("Dockerfile")
readme = read("README.md")
deps = read("scripts/install-deps.sh")
compose = read("docker-compose.yml")
dockerignore = read(".dockerignore")

# Instructions with their continuation lines joined, comments dropped.
instructions, current = [], ""
for line in dockerfile.splitlines():
    if not current and line.strip().startswith("#"):
        continue
    current += line.rstrip("\\").strip() + " " if line.rstrip().endswith("\\") else line.strip()
    if not line.rstrip().endswith("\\"):
        if current.strip():
            instructions.append(current.strip())
        current = ""

froms = [i.split()[1] for i in instructions if i.upper().startswith("FROM ")]
if len(froms) < 2:
    problems.append("Dockerfile: expected a multi-stage build (a build stage and a runtime stage)")
for image in froms:
    if not re.fullmatch(r"debian:(12|bookworm)(-slim)?", image):
        problems.append(f"Dockerfile: base image {image} is not Debian 12 (debian:12-slim)")

users = [i.split()[1] for i in instructions if i.upper().startswith("USER ")]
if not users or users[-1] in ("root", "0"):
    problems.append("Dockerfile: the image must end with USER set to a non-root user")
if 'ENTRYPOINT ["sluice"]' not in instructions:
    problems.append('Dockerfile: ENTRYPOINT ["sluice"] is missing')

for inst in instructions:
    if not inst.upper().startswith("COPY "):
        continue
    words = shlex.split(inst)[1:]
    if any(w.startswith("--from") for w in words):
        continue
    words = [w for w in words if not w.startswith("--")]
    for src in words[:-1]:
        if not os.path.exists(os.path.join(root, src)):
            problems.append(f"Dockerfile: COPY {src}: no such file or folder in the repository")

# Build commands: each `cmake ...` the Dockerfile runs must be the one the README documents.
cmake_commands = []
for inst in instructions:
    if inst.upper().startswith("RUN "):
        for part in inst[4:].split("&&"):
            part = " ".join(part.split())
            if part.startswith("cmake "):
                cmake_commands.append(part)
if not cmake_commands:
    problems.append("Dockerfile: no cmake build command found")
readme_flat = " ".join(readme.split())
for cmd in cmake_commands:
    if cmd not in readme_flat:
        problems.append(f"Dockerfile runs `{cmd}`, which README.md does not show; "
                        "keep the two the same")

# Build packages: the same set the project's own install script knows.
known = set(re.findall(r"[a-z0-9][a-z0-9.+-]+", deps))
stage_no = 0
for inst in instructions:
    if inst.upper().startswith("FROM "):
        stage_no += 1
        continue
    if stage_no == 1 and inst.upper().startswith("RUN ") and "apt-get install" in inst:
        seg = inst.split("apt-get install", 1)[1].split("&&")[0]
        for pkg in seg.split():
            if not pkg.startswith("-") and pkg not in known:
                problems.append(f"Dockerfile build stage installs {pkg}, which "
                                "scripts/install-deps.sh does not: add it there too")

if not re.search(r"^build\*?/?$", dockerignore, re.M):
    problems.append(".dockerignore must exclude the build folders (build*)")

# Compose: the services and their sluice commands.
services = {}
in_services, name = False, None
for line in compose.splitlines():
    if re.match(r"^services:\s*$", line):
        in_services = True
        continue
    if in_services and re.match(r"^\S", line):
        in_services = False
    m = re.match(r"^  ([A-Za-z0-9_-]+):\s*$", line)
    if in_services and m:
        name = m.group(1)
        services[name] = None
        continue
    m = re.match(r"^\s+command:\s*(\[.*\])\s*$", line)
    if in_services and name and m:
        services[name] = [w.strip().strip('"') for w in m.group(1)[1:-1].split(",")]
for want in ("postgres", "migrate", "scheduler", "worker-1", "worker-2", "web"):
    if want not in services:
        problems.append(f"docker-compose.yml: service {want} is missing")
if "image: sluice:latest" not in compose or "build: ." not in compose:
    problems.append("docker-compose.yml: services must use the image built from this Dockerfile")
if sluice:
    for svc, cmd in services.items():
        if not cmd or svc == "postgres":
            continue
        r = subprocess.run([sluice] + cmd + ["--help"], capture_output=True, text=True)
        words = []
        for w in cmd:
            if w.startswith("-"):
                break
            words.append(w)
        # An unknown command prints the top-level help: its usage line names no command.
        if r.returncode != 0 or f"Usage: sluice {' '.join(words)} " not in r.stdout:
            problems.append(f"docker-compose.yml: service {svc} runs `sluice {' '.join(cmd)}`, "
                            f"which is not a sluice command (see `sluice --help`)")

for p in problems:
    print("check-docker: " + p)
if problems:
    sys.exit(1)
print(f"check-docker: ok ({len(instructions)} Dockerfile instructions, "
      f"{len(cmake_commands)} build commands, {len(services)} compose services)")
PY
