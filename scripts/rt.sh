#!/usr/bin/env bash
# A private Request Tracker 5 for the RT desk connector: install, start, stop.
#
#   scripts/rt.sh install          apt-get the Debian packages if rt-server is missing
#   scripts/rt.sh install --if-possible
#                                  the same, but without root (and no password-less sudo)
#                                  only say how to install it and succeed (`make test`
#                                  uses this: the RT tests then skip, naming the command)
#   scripts/rt.sh start DIR PORT   fresh instance in DIR (SQLite), on 127.0.0.1:PORT
#   scripts/rt.sh stop DIR         stop the instance started in DIR
#   scripts/rt.sh env DIR          print the ROUTER_RT_* settings (secrets as file paths)
#
# "start" never touches /etc or the system database: the site config, the SQLite file, the
# Mason caches, the logs and the pid all live in DIR. It sets root's password from
# DIR/root-password (random, made on first start), creates a user "router" with only the
# rights the connector needs on the "Social" queue, and REST2 auth tokens for root (DIR/token)
# and router (DIR/router-token); these files are mode 600 and never printed. A second "start" on a running DIR
# does nothing; on a stopped DIR it reuses the database.
#
# Environment: RT_START_TIMEOUT (seconds to wait for /REST/2.0/, default 120),
# RT_WORKERS (Starlet worker processes, default 2), RT_BCRYPT_COST (default 4, RT's is 12).
set -euo pipefail

RT_LIBEXEC=${RT_LIBEXEC:-/usr/share/request-tracker5/libexec}
RT_SERVER=${RT_SERVER:-$RT_LIBEXEC/rt-server}
RT_SETUP_DB=${RT_SETUP_DB:-/usr/sbin/rt-setup-database-5}
PACKAGES=(request-tracker5 rt5-db-sqlite rt5-standalone dbconfig-no-thanks)
QUEUE=Social
EXTERNAL_ID_FIELD="Router External ID"

die() { echo "rt.sh: $*" >&2; exit 1; }

have_rt() { [[ -x $RT_SERVER && -x $RT_SETUP_DB ]]; }

cmd_install() {
    local if_possible=${1:-}
    [[ -z $if_possible || $if_possible == --if-possible ]] || die "usage: $0 install [--if-possible]"
    if have_rt; then
        echo "rt.sh: Request Tracker 5 is already installed ($RT_SERVER)"
        return 0
    fi
    if [[ $(id -u) -ne 0 ]]; then
        if sudo -n true 2>/dev/null; then
            exec sudo -n bash "$0" install
        fi
        if [[ -n $if_possible ]]; then
            echo "rt.sh: Request Tracker 5 is not installed and installing needs root;" \
                 "the RT tests will be skipped. To run them: sudo $0 install" >&2
            return 0
        fi
        die "installing needs root: sudo $0 install"
    fi
    command -v apt-get >/dev/null || die "installing needs apt-get (Debian/Ubuntu): packages ${PACKAGES[*]}"
    export DEBIAN_FRONTEND=noninteractive
    if ! apt-get install -y "${PACKAGES[@]}"; then
        echo "rt.sh: install failed; refreshing the package lists and trying again" >&2
        apt-get update
        apt-get install -y "${PACKAGES[@]}"
    fi
    have_rt || die "packages installed but $RT_SERVER is still missing"
}

abs_dir() { mkdir -p "$1" && (cd "$1" && pwd -P); }

running_pid() {  # the pid of DIR's server if it is alive, else nothing
    local pidfile=$1/rt.pid pid
    [[ -s $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

write_site_config() {  # DIR PORT
    local dir=$1 port=$2
    mkdir -p "$dir/etc/RT_SiteConfig.d" "$dir/var/mason_data" "$dir/var/session_data" "$dir/log"
    cat >"$dir/etc/RT_SiteConfig.pm" <<EOF
# Private RT for the escalation router's tests; written by scripts/rt.sh.
# Paths RT::Generated fixes under /var are moved into this directory.
\$RT::VarPath = '$dir/var';
\$RT::MasonDataDir = '$dir/var/mason_data';
\$RT::MasonSessionDir = '$dir/var/session_data';

Set(\$rtname, 'router-test');
Set(\$Organization, 'router.test');
Set(\$CorrespondAddress, 'rt@router.test');
Set(\$CommentAddress, 'rt-comment@router.test');
Set(\$DatabaseType, 'SQLite');
Set(\$DatabaseName, '$dir/var/rt5.db');
Set(\$WebDomain, '127.0.0.1');
Set(\$WebPort, $port);
Set(\$WebPath, '');
Set(\$WebBaseURL, 'http://127.0.0.1:$port');
Set(\$LogToSyslog, undef);
Set(\$LogToSTDERR, 'error');
Set(\$LogDir, '$dir/log');
Set(\$LogToFile, 'info');
Set(\$LogToFileNamed, 'rt.log');
# Every REST2 request checks its token or password with bcrypt; RT's default cost (12)
# makes that ~0.3s a request. A throwaway test instance can afford a cheap hash.
Set(\$BcryptCost, ${RT_BCRYPT_COST:-4});
# Outgoing mail (autoreplies to the social requesters) goes to a file in var/, not out.
Set(\$MailCommand, 'mbox');
1;
EOF
}

write_initialdata() {  # DIR
    cat >"$1/initialdata" <<EOF
# Objects the router expects, added after RT's own initial data.
@Queues = ({
    Name              => '$QUEUE',
    Description       => 'Mentions escalated by the escalation router',
    CorrespondAddress => '',
    CommentAddress    => '',
});
@Users = ({
    Name         => 'router',
    RealName     => 'Escalation Router',
    EmailAddress => 'router@router.test',
    Privileged   => 1,
});
# Only what the connector needs (docs/rt.md), so the tests prove the list is enough.
@ACL = ({
    UserId => 'router',
    Queue  => '$QUEUE',
    Right  => [qw(SeeQueue CreateTicket ShowTicket ModifyTicket DeleteTicket ReplyToTicket
                  CommentOnTicket ShowTicketComments SeeCustomField SetInitialCustomField
                  ModifyCustomField)],
});
@CustomFields = ({
    Name        => '$EXTERNAL_ID_FIELD',
    Type        => 'FreeformSingle',
    LookupType  => 'RT::Queue-RT::Ticket',
    Description => 'The case id the escalation router opened this ticket for',
    ApplyTo     => ['$QUEUE', 'General'],
});
@Final = (sub {
    for my \$who (['root', '$1/token'], ['router', '$1/router-token']) {
        my (\$name, \$path) = @\$who;
        my \$user = RT::User->new(RT->SystemUser);
        \$user->Load(\$name);
        my \$token = RT::AuthToken->new(RT->SystemUser);
        my (\$ok, \$msg, \$auth) = \$token->Create(Owner => \$user->Id,
                                                 Description => 'escalation router (rt.sh)');
        die "auth token for \$name: \$msg\n" unless \$ok;
        my \$old = umask 077;
        open my \$fh, '>', \$path or die "\$path: \$!\n";
        print \$fh \$auth;
        close \$fh;
        umask \$old;
    }
});
1;
EOF
}

init_database() {  # DIR
    local dir=$1 log=$1/log/setup.log
    if [[ ! -s $dir/root-password ]]; then
        (umask 077 && head -c 24 /dev/urandom | base64 | tr -d '/+=\n' >"$dir/root-password")
    fi
    write_initialdata "$dir"
    echo "rt.sh: creating the database in $dir/var (log: $log)"
    if ! "$RT_SETUP_DB" --action init --skip-create \
            --root-password-file "$dir/root-password" >"$log" 2>&1 \
        || ! "$RT_SETUP_DB" --action insert --datafile "$dir/initialdata" >>"$log" 2>&1; then
        tail -n 20 "$log" >&2
        rm -f "$dir/var/rt5.db"
        die "database set-up failed; see $log"
    fi
    if grep -q '\[error\]' "$log" || [[ ! -s $dir/token || ! -s $dir/router-token ]]; then
        grep '\[error\]' "$log" | tail -n 5 >&2 || true
        rm -f "$dir/var/rt5.db"
        die "the router's queue, field, user, rights or tokens were not all made; see $log"
    fi
}

cmd_start() {
    [[ $# -eq 2 ]] || die "usage: $0 start DIR PORT"
    local dir port pid timeout=${RT_START_TIMEOUT:-120} started code
    [[ $2 =~ ^[0-9]+$ ]] && (($2 > 0 && $2 < 65536)) || die "bad port: $2"
    port=$2
    have_rt || die "Request Tracker 5 is not installed: run $0 install"
    dir=$(abs_dir "$1")
    if pid=$(running_pid "$dir"); then
        echo "rt.sh: already running in $dir (pid $pid, port $(<"$dir/port"))"
        return 0
    fi
    started=$EPOCHREALTIME
    export RT_SITE_CONFIG=$dir/etc/RT_SiteConfig.pm RT_SITE_CONFIG_DIR=$dir/etc/RT_SiteConfig.d
    write_site_config "$dir" "$port"
    [[ -s $dir/var/rt5.db ]] || init_database "$dir"
    echo "$port" >"$dir/port"
    # setsid: own process group, so "stop" ends the server and all its workers at once.
    setsid "$RT_SERVER" --host 127.0.0.1 --port "$port" --max-workers "${RT_WORKERS:-2}" \
        >"$dir/log/server.log" 2>&1 </dev/null &
    echo $! >"$dir/rt.pid"
    local deadline=$((SECONDS + timeout))
    while :; do
        code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
            -H "Authorization: token $(<"$dir/token")" \
            "http://127.0.0.1:$port/REST/2.0/rt" || true)
        [[ $code == 200 ]] && break
        if ! running_pid "$dir" >/dev/null; then
            tail -n 20 "$dir/log/server.log" >&2
            die "rt-server exited during start-up; see $dir/log/server.log"
        fi
        if ((SECONDS >= deadline)); then
            tail -n 20 "$dir/log/server.log" >&2
            cmd_stop "$dir" >/dev/null
            die "RT did not answer on http://127.0.0.1:$port/REST/2.0/rt within ${timeout}s (last status $code)"
        fi
        sleep 0.3
    done
    printf 'rt.sh: RT 5 ready at http://127.0.0.1:%s in %.1fs (pid %s, dir %s)\n' \
        "$port" "$(awk "BEGIN { print $EPOCHREALTIME - $started }")" "$(<"$dir/rt.pid")" "$dir"
}

cmd_stop() {
    [[ $# -eq 1 ]] || die "usage: $0 stop DIR"
    local dir=$1 pid i
    [[ -d $dir ]] || { echo "rt.sh: nothing to stop in $dir"; return 0; }
    if ! pid=$(running_pid "$dir"); then
        rm -f "$dir/rt.pid"
        echo "rt.sh: not running in $dir"
        return 0
    fi
    # TERM, not INT: rt-server's INT handler chowns /var/lib/request-tracker5 when root.
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for i in $(seq 1 50); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    if kill -0 "$pid" 2>/dev/null; then
        echo "rt.sh: rt-server $pid ignored TERM for 10s; killing it" >&2
        kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid"
    fi
    rm -f "$dir/rt.pid"
    echo "rt.sh: stopped RT in $dir"
}

cmd_env() {
    [[ $# -eq 1 ]] || die "usage: $0 env DIR"
    local dir
    dir=$(cd "$1" && pwd -P) || die "no such directory: $1"
    [[ -s $dir/port && -s $dir/token ]] || die "no RT was started in $dir"
    cat <<EOF
ROUTER_RT_URL=http://127.0.0.1:$(<"$dir/port")
ROUTER_RT_QUEUE=$QUEUE
ROUTER_RT_EXTERNAL_ID_FIELD='$EXTERNAL_ID_FIELD'
# secrets: export ROUTER_RT_TOKEN="\$(cat $dir/router-token)"   (user "router", queue rights only)
#   admin: token $dir/token, or user root with password $dir/root-password
EOF
}

main() {
    local cmd=${1:-}
    shift || true
    case $cmd in
        install) cmd_install "$@" ;;
        start) cmd_start "$@" ;;
        stop) cmd_stop "$@" ;;
        env) cmd_env "$@" ;;
        *) die "usage: $0 install [--if-possible] | start DIR PORT | stop DIR | env DIR" ;;
    esac
}

main "$@"
