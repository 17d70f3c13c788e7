#!/usr/bin/env bash
# Debian's Chromium and ChromeDriver for the dashboard's browser test
# (tests/router/test_dashboard_browser.py drives them with selenium, headless, offline).
#
#   scripts/browser.sh install               apt-get chromium and chromium-driver if missing
#   scripts/browser.sh install --if-possible the same, but without root (and no password-less
#                                            sudo) only say how and succeed (`make test` uses
#                                            this: the browser test then skips, naming it)
set -euo pipefail

PACKAGES=(chromium chromium-driver)

die() { echo "browser.sh: $*" >&2; exit 1; }

have_browser() { command -v chromium >/dev/null && command -v chromedriver >/dev/null; }

cmd_install() {
    local if_possible=${1:-}
    [[ -z $if_possible || $if_possible == --if-possible ]] || die "usage: $0 install [--if-possible]"
    if have_browser; then
        echo "browser.sh: chromium and chromedriver are installed"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        if sudo -n true 2>/dev/null; then
            exec sudo -n bash "$0" install
        fi
        if [[ -n $if_possible ]]; then
            echo "browser.sh: chromium is not installed and installing needs root; the" \
                 "dashboard's browser test will be skipped. To run it: sudo $0 install" >&2
            return 0
        fi
        die "installing needs root: sudo $0 install"
    fi
    command -v apt-get >/dev/null || die "installing needs apt-get (Debian/Ubuntu): packages ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y -qq "${PACKAGES[@]}"; then
        echo "browser.sh: install failed; refreshing the package lists and trying again" >&2
        apt-get update -qq
        apt-get install -y -qq "${PACKAGES[@]}"
    fi
    have_browser || die "packages installed but chromium or chromedriver is still missing"
}

case "${1:-}" in
    install) shift; cmd_install "$@" ;;
    *) die "usage: $0 install [--if-possible]" ;;
esac
