#!/usr/bin/env bash
# Validates everything under deploy/ and the Debian packaging metadata, offline, with pinned
# tools. Exits non-zero when any check fails; prints each check and a closing
# "N passed, N failed" line.
#
#   scripts/validate-deploy.sh            # all checks
#   VERBOSE=1 scripts/validate-deploy.sh  # also print every tool's full output
#
# What it checks:
#   Kubernetes   every kustomization renders (base, daemonset, full-stack, each component over the
#                base, deploy/grafana, deploy/prometheus); every object validates with kubeconform
#                against the Kubernetes JSON schemas in strict mode (unknown fields are errors);
#                ServiceMonitor/PodMonitor strict-decode with the Prometheus Operator's Go types;
#                every ConfigMap, ServiceAccount, selector and named port referred to exists
#   Prometheus   promtool check config, check rules and the alerts' unit tests; both
#                prometheus.yml files load with Prometheus' own config package (Kubernetes service
#                discovery included); every PromQL query of the dashboard parses, and dashboards
#                and alerts name only metrics sluice exports
#   Compose      the compose file loads with the Compose Specification's loader (schema,
#                interpolation, references); healthchecks and depends_on conditions line up
#   Docker       the Dockerfile parses with BuildKit's parser and lint rules; COPY sources exist
#                and are not excluded by .dockerignore
#   systemd      systemd-analyze verify on the units (in a scratch root with a stand-in binary)
#                and systemd-analyze security under an exposure threshold
#   Debian       maintainer scripts (syntax, #DEBHELPER#), [package.metadata.deb] assets and
#                units present; the shipped pipeline is the reference one
#   Configs      YAML syntax of the files only their own programs read (filebeat.yml, loki.yaml,
#                sluice.yml, pipelines.yml, Grafana provisioning)
# Optional, when the binary is given: sluice's own loader on the shipped settings files and
# `sluice -t` on the shipped pipelines (SLUICE_BIN=target/debug/sluice; the pipelines need every
# plugin they name built in), Loki's -verify-config (LOKI_BIN, or $SLUICE_CACHE/bin/loki when the
# integration tests built one).
#
# Tools are installed into ${SLUICE_CACHE:-$HOME/.cache/sluice}/deploy-tools on first use and
# reused after (a version stamp next to each says which version it is):
#   kustomize, kubeconform   go install from the Go module proxy
#   deploycheck              built from scripts/deploycheck (its go.sum pins every dependency):
#                            compose-go (which embeds the Compose Specification's JSON schema),
#                            BuildKit's Dockerfile parser, the Prometheus Operator's API types,
#                            Prometheus' config package, all from the Go module proxy
#   promtool                 extracted from Debian's `prometheus` package (apt-get download +
#                            dpkg-deb -x): nothing is installed system-wide, so no Prometheus
#                            service is left running, with or without systemd as PID 1
#   Kubernetes schemas       from the PyPI package kubernetes-validate (pip download), rewritten
#                            so that their references resolve to local files
#   systemd-analyze          the system's; installed with apt-get (package systemd) when missing
set -uo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${SLUICE_CACHE:-$HOME/.cache/sluice}"
TOOLS="$CACHE/deploy-tools"
BIN="$TOOLS/bin"

# Pinned versions. Changing one reinstalls that tool on the next run.
KUSTOMIZE_VERSION=v5.7.1
KUBECONFORM_VERSION=v0.8.0
KUBERNETES_VALIDATE_VERSION=1.37.0
# The oldest Kubernetes the manifests claim to support, and the newest schemas available.
KUBERNETES_VERSIONS=(1.30.0 1.37.0)
PROMETHEUS_DEB_VERSION="${PROMETHEUS_DEB_VERSION:-2.42.0+ds-5+deb12u1}"
# systemd-analyze security exposure, in tenths (systemd prints 1.3 for 13): fail above this.
SYSTEMD_EXPOSURE_THRESHOLD=20

export GOTOOLCHAIN=local
export GOFLAGS=-buildvcs=false

START=$(date +%s)
WORK="$(mktemp -d "${TMPDIR:-/tmp}/validate-deploy.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

PASSED=0
FAILED=0
FAILURES=()

say() { printf '%s\n' "$*"; }
section() { printf '\n== %s\n' "$*"; }
die() { printf 'validate-deploy: %s\n' "$*" >&2; exit 2; }
indent() { sed 's/^/        /'; }

# check DESCRIPTION COMMAND...: runs the command, counts it, prints its last line on success
# (the tool's own summary) and all of its output on failure.
check() {
    local what=$1 out
    shift
    if out=$("$@" 2>&1); then
        PASSED=$((PASSED + 1))
        printf '  ok    %s\n' "$what"
        if [[ -n "${VERBOSE:-}" ]]; then
            [[ -n "$out" ]] && printf '%s\n' "$out" | indent
        elif [[ -n "$out" ]]; then
            printf '%s\n' "$out" | grep -v '^[[:space:]]*$' | tail -n 1 | sed 's/^[[:space:]]*//' | indent
        fi
    else
        FAILED=$((FAILED + 1))
        FAILURES+=("$what")
        printf '  FAIL  %s\n' "$what"
        [[ -n "$out" ]] && printf '%s\n' "$out" | indent
    fi
    return 0
}

# fail DESCRIPTION MESSAGE: records a failed check that has no command of its own.
fail() {
    FAILED=$((FAILED + 1))
    FAILURES+=("$1")
    printf '  FAIL  %s\n' "$1"
    printf '%s\n' "$2" | indent
}

stamp_is() { [[ -f "$BIN/.$1.version" && "$(cat "$BIN/.$1.version")" == "$2" && -x "$BIN/$1" ]]; }
stamp() { printf '%s' "$2" >"$BIN/.$1.version"; }

# ------------------------------------------------------------------------------------ tools

go_tool() { # go_tool NAME MODULE/PATH VERSION
    local name=$1 pkg=$2 version=$3
    if stamp_is "$name" "$version"; then
        say "  cached $name $version"
        return
    fi
    command -v go >/dev/null || die "go is needed to install $name"
    say "  installing $name $version (go install $pkg@$version)"
    if ! GOBIN="$BIN" go install "$pkg@$version" >"$WORK/go-install.log" 2>&1; then
        cat "$WORK/go-install.log" >&2
        die "go install $pkg@$version failed"
    fi
    stamp "$name" "$version"
}

deploycheck_tool() {
    local src="$ROOT/scripts/deploycheck" sum
    sum=$(cat "$src/go.mod" "$src/go.sum" "$src"/*.go | sha256sum | cut -c1-16)
    if stamp_is deploycheck "$sum"; then
        say "  cached deploycheck $sum"
        return
    fi
    command -v go >/dev/null || die "go is needed to build scripts/deploycheck"
    say "  building deploycheck (scripts/deploycheck, dependencies pinned by its go.sum)"
    if ! (cd "$src" && go build -mod=readonly -o "$BIN/deploycheck" .) >"$WORK/go-build.log" 2>&1; then
        cat "$WORK/go-build.log" >&2
        die "building scripts/deploycheck failed"
    fi
    stamp deploycheck "$sum"
}

promtool_tool() {
    if stamp_is promtool "$PROMETHEUS_DEB_VERSION"; then
        say "  cached promtool (Debian prometheus $PROMETHEUS_DEB_VERSION)"
        return
    fi
    if ! command -v apt-get >/dev/null || ! command -v dpkg-deb >/dev/null; then
        die "promtool comes from Debian's prometheus package: apt-get and dpkg-deb are needed"
    fi
    local dl="$WORK/prometheus-deb" apt_opts=()
    mkdir -p "$dl"
    # Downloading as root, apt would hand the file to its _apt sandbox user, who cannot write
    # into a private temporary directory.
    [[ $(id -u) -eq 0 ]] && apt_opts+=(-o APT::Sandbox::User=root)
    if ! apt-cache show "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null 2>&1; then
        [[ $(id -u) -eq 0 ]] || die "the package lists do not know prometheus=$PROMETHEUS_DEB_VERSION; run apt-get update as root"
        say "  apt-get update (prometheus=$PROMETHEUS_DEB_VERSION not in the package lists)"
        apt-get update -qq >/dev/null || die "apt-get update failed"
    fi
    say "  installing promtool (apt-get download prometheus=$PROMETHEUS_DEB_VERSION, dpkg-deb -x)"
    (cd "$dl" && apt-get "${apt_opts[@]}" download -qq "prometheus=$PROMETHEUS_DEB_VERSION" >/dev/null) ||
        die "apt-get download prometheus=$PROMETHEUS_DEB_VERSION failed (set PROMETHEUS_DEB_VERSION to the version apt-cache policy prometheus shows)"
    dpkg-deb -x "$dl"/prometheus_*.deb "$dl/root" || die "cannot unpack the prometheus package"
    install -m 0755 "$dl/root/usr/bin/promtool" "$BIN/promtool"
    stamp promtool "$PROMETHEUS_DEB_VERSION"
}

# Kubernetes JSON schemas for kubeconform, one directory per Kubernetes version. The package's
# schemas refer to their shared definitions as /api/_definitions.json under a kubernetes.io $id;
# kubeconform would fetch that over the network, so the $id goes and the reference becomes the
# file next to them.
kubernetes_schemas() {
    local dir="$TOOLS/kubernetes-schemas" v missing=()
    for v in "${KUBERNETES_VERSIONS[@]}"; do
        [[ -f "$dir/v$v/.complete-$KUBERNETES_VALIDATE_VERSION" ]] || missing+=("$v")
    done
    if [[ ${#missing[@]} -eq 0 ]]; then
        say "  cached Kubernetes schemas ${KUBERNETES_VERSIONS[*]} (kubernetes-validate $KUBERNETES_VALIDATE_VERSION)"
        return
    fi
    say "  installing Kubernetes schemas ${missing[*]} (pip download kubernetes-validate==$KUBERNETES_VALIDATE_VERSION)"
    python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$WORK/kv" \
        "kubernetes-validate==$KUBERNETES_VALIDATE_VERSION" >/dev/null ||
        die "pip download kubernetes-validate==$KUBERNETES_VALIDATE_VERSION failed"
    python3 - "$WORK"/kv/kubernetes_validate-*.whl "$dir" "$KUBERNETES_VALIDATE_VERSION" "${missing[@]}" <<'EOF' || die "cannot extract the Kubernetes schemas"
import json, os, shutil, sys, zipfile

wheel, out, package_version, versions = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
with zipfile.ZipFile(wheel) as z:
    for version in versions:
        prefix = f"kubernetes_validate/kubernetes-json-schema/v{version}-local-strict/"
        names = [n for n in z.namelist() if n.startswith(prefix) and n.endswith(".json")]
        if not names:
            sys.exit(f"kubernetes-validate {package_version} has no schemas for Kubernetes {version}")
        target = os.path.join(out, f"v{version}")
        shutil.rmtree(target, ignore_errors=True)
        os.makedirs(target)
        for name in names:
            schema = json.loads(z.read(name))
            schema.pop("$id", None)
            text = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#')
            with open(os.path.join(target, os.path.basename(name)), "w") as f:
                f.write(text)
        open(os.path.join(target, f".complete-{package_version}"), "w").close()
EOF
}

systemd_analyze_tool() {
    if command -v systemd-analyze >/dev/null; then
        say "  system systemd-analyze ($(systemd-analyze --version | head -n 1))"
        return
    fi
    if [[ $(id -u) -ne 0 ]] || ! command -v apt-get >/dev/null; then
        die "systemd-analyze is missing; install the systemd package"
    fi
    say "  installing systemd-analyze (apt-get install systemd)"
    # Only systemd-analyze is used. Without systemd as PID 1 the package's scripts start nothing;
    # with it, systemd is already installed and this branch is not taken.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null ||
        { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends systemd >/dev/null; } ||
        die "apt-get install systemd failed"
}

section "Tools (cache: $TOOLS)"
mkdir -p "$BIN"
go_tool kustomize sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION"
go_tool kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
deploycheck_tool
promtool_tool
kubernetes_schemas
systemd_analyze_tool
KUSTOMIZE="$BIN/kustomize"
KUBECONFORM="$BIN/kubeconform"
DEPLOYCHECK="$BIN/deploycheck"
PROMTOOL="$BIN/promtool"

cd "$ROOT" || die "cannot enter $ROOT"

# ------------------------------------------------------------------------------- kubernetes

section "Kubernetes manifests (kustomize $KUSTOMIZE_VERSION, kubeconform $KUBECONFORM_VERSION, schemas ${KUBERNETES_VERSIONS[*]})"

kubeconform_all() { # kubeconform_all VERSION FILE...: strict validation of every rendering
    local version=$1
    shift
    # One run for all renderings, so each kind's schema is compiled once. The two Prometheus
    # Operator kinds have no schema here (deploycheck decodes them with the operator's own
    # types); every other kind must have one: nothing else is skipped.
    "$KUBECONFORM" -strict -summary -kubernetes-version "$version" \
        -schema-location "$TOOLS/kubernetes-schemas/{{ .NormalizedKubernetesVersion }}/{{ .ResourceKind }}{{ .KindSuffix }}.json" \
        -skip monitoring.coreos.com/v1/ServiceMonitor,monitoring.coreos.com/v1/PodMonitor \
        "$@"
}

render_and_validate() { # render_and_validate NAME KUSTOMIZATION_DIR
    local name=$1 dir=$2 out="$WORK/rendered/${1//\//_}.yaml"
    mkdir -p "$WORK/rendered"
    if ! "$KUSTOMIZE" build "$dir" >"$out" 2>"$out.err"; then
        fail "kustomize build $name" "$(cat "$out.err")"
        return
    fi
    PASSED=$((PASSED + 1))
    printf '  ok    kustomize build %s\n' "$name"
    printf '        %s objects: %s\n' "$(grep -c '^kind:' "$out")" "$(grep '^kind:' "$out" | sort | uniq -c | awk '{printf "%s%s %s", sep, $1, $3; sep=", "}')"
    check "references and Prometheus Operator kinds in $name" "$DEPLOYCHECK" k8s "$out"
}

render_and_validate base deploy/k8s/base
render_and_validate daemonset deploy/k8s/daemonset
render_and_validate full-stack deploy/k8s/overlays/full-stack
# A component cannot be built alone: each is rendered over the base, as an overlay would use it.
for component in deploy/k8s/components/*/; do
    name=$(basename "$component")
    overlay="$WORK/overlays/$name"
    mkdir -p "$overlay"
    cat >"$overlay/kustomization.yaml" <<EOF
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: logging
resources:
  - $(realpath --relative-to="$overlay" "$ROOT/deploy/k8s/base")
components:
  - $(realpath --relative-to="$overlay" "$ROOT/$component")
EOF
    render_and_validate "base+components/$name" "$overlay"
done
render_and_validate grafana-provisioning deploy/grafana
render_and_validate prometheus-rules deploy/prometheus
for v in "${KUBERNETES_VERSIONS[@]}"; do
    check "kubeconform -strict, Kubernetes $v schemas, every rendering above" kubeconform_all "$v" "$WORK"/rendered/*.yaml
done

# ------------------------------------------------------------------------------- prometheus

section "Prometheus and Grafana (promtool from Debian prometheus $PROMETHEUS_DEB_VERSION)"
check "promtool check config deploy/prometheus/prometheus.yml" "$PROMTOOL" check config deploy/prometheus/prometheus.yml
# The Kubernetes config expects the rules next to it, as the projected volume puts them.
mkdir -p "$WORK/k8s-prometheus"
cp deploy/k8s/components/prometheus/prometheus.yml deploy/prometheus/sluice-alerts.yml "$WORK/k8s-prometheus/"
# Debian's promtool is built without Kubernetes service discovery: the Kubernetes config is
# loaded with Prometheus' own config package instead (the version the image runs).
check "Prometheus v3 config loader on deploy/prometheus/prometheus.yml" "$DEPLOYCHECK" promconfig deploy/prometheus/prometheus.yml
check "Prometheus v3 config loader on deploy/k8s/components/prometheus/prometheus.yml" "$DEPLOYCHECK" promconfig "$WORK/k8s-prometheus/prometheus.yml"
check "promtool check rules deploy/prometheus/sluice-alerts.yml" "$PROMTOOL" check rules deploy/prometheus/sluice-alerts.yml
# rule_files in the test file are relative to it.
promtool_test() { (cd deploy/prometheus && "$PROMTOOL" test rules sluice-alerts.test.yml); }
check "promtool test rules deploy/prometheus/sluice-alerts.test.yml" promtool_test

alerts_tested() { # every alert of the rules file has a firing case in the tests
    local missing=() alert
    while read -r alert; do
        grep -q "alertname: $alert\$" deploy/prometheus/sluice-alerts.test.yml || missing+=("$alert")
    done < <(sed -n 's/^ *- alert: *//p' deploy/prometheus/sluice-alerts.yml)
    [[ ${#missing[@]} -eq 0 ]] || { echo "alerts without a test: ${missing[*]}"; return 1; }
    echo "$(sed -n 's/^ *- alert: *//p' deploy/prometheus/sluice-alerts.yml | wc -l) alerts, each with test cases"
}
check "every alert has unit tests" alerts_tested

check "dashboard and alerts name only metrics sluice exports" \
    "$DEPLOYCHECK" promql -rules "$WORK/dashboard-queries.yml" deploy/grafana/dashboards/*.json deploy/prometheus/sluice-alerts.yml
check "every PromQL query of the dashboard parses (promtool check rules)" "$PROMTOOL" check rules "$WORK/dashboard-queries.yml"

# ------------------------------------------------------------------------------- compose, docker

section "Docker compose and image"
check "docker-compose.yml against the Compose Specification (compose-go loader)" "$DEPLOYCHECK" compose deploy/compose/docker-compose.yml
check "deploy/docker/Dockerfile (BuildKit parser, context: repository root)" "$DEPLOYCHECK" dockerfile deploy/docker/Dockerfile .
dockerignore_ok() {
    local p
    for p in target/ .cache/; do
        grep -qxF "$p" .dockerignore || { echo ".dockerignore does not exclude $p"; return 1; }
    done
    echo ".dockerignore excludes target/ and .cache/"
}
check ".dockerignore" dockerignore_ok
check "image healthcheck script (bash -n)" bash -n deploy/docker/healthcheck.sh

# ------------------------------------------------------------------------------- configs

section "Configuration files"
check "YAML syntax of configs read by their own programs" "$DEPLOYCHECK" yaml \
    deploy/debian/etc/sluice/sluice.yml deploy/debian/etc/sluice/pipelines.yml \
    deploy/k8s/base/config/sluice.yml deploy/k8s/base/config/pipelines.yml \
    deploy/k8s/daemonset/config/sluice.yml deploy/k8s/daemonset/config/pipelines.yml \
    deploy/compose/filebeat.yml deploy/k8s/components/filebeat/filebeat.yml \
    deploy/k8s/components/loki/loki.yaml \
    deploy/grafana/provisioning/datasources/*.yaml deploy/grafana/provisioning/dashboards/*.yaml

# The container pipeline is the Debian one with the Elasticsearch hosts from ${ES_HOSTS}, and
# nothing else changed.
container_pipeline_matches() {
    local f rc=0
    for f in deploy/debian/etc/sluice/conf.d/*.conf; do
        local c
        c="deploy/k8s/base/config/conf.d/$(basename "$f")"
        [[ -f "$c" ]] || { echo "$c is missing"; rc=1; continue; }
        # shellcheck disable=SC2016 # ${ES_HOSTS...} is the config's text, not the shell's.
        diff -u "$f" <(sed 's|"\${ES_HOSTS:localhost:9200}"|"localhost:9200"|g' "$c") || rc=1
    done
    [[ $rc -eq 0 ]] && echo "conf.d differs from the Debian pipeline only in hosts => \${ES_HOSTS:localhost:9200}"
    return $rc
}
check "container pipeline = Debian pipeline but for the Elasticsearch hosts" container_pipeline_matches

# The reference deployment sits beside the repository in CI (shared/), or wherever
# SLUICE_REFERENCE_DIR says.
REFERENCE_DIR="${SLUICE_REFERENCE_DIR:-$ROOT/../shared/reference/logstash-seed}"
if [[ -d "$REFERENCE_DIR" ]]; then
    reference_pipeline_unchanged() {
        local f rc=0
        for f in 01-input.conf 02-filter.conf 03-output.conf; do
            cmp "$REFERENCE_DIR/$f" "deploy/debian/etc/sluice/conf.d/$f" || rc=1
        done
        [[ $rc -eq 0 ]] && echo "01-input.conf, 02-filter.conf, 03-output.conf identical to the reference"
        return $rc
    }
    check "Debian conf.d is the reference pipeline, byte for byte" reference_pipeline_unchanged
else
    say "  skip  reference pipeline comparison ($REFERENCE_DIR not found; set SLUICE_REFERENCE_DIR)"
fi

if [[ -n "${SLUICE_BIN:-}" ]]; then
    # pipelines.yml names /etc/sluice/conf.d: stage each settings directory with its own path.
    sluice_config_test() { # sluice_config_test SETTINGS_DIR [EXTRA_CONF...]
        local stage
        stage="$WORK/sluice-t/$(echo "$*" | tr '/ ' '__')"
        rm -rf "$stage" && mkdir -p "$stage" && cp -r "$1"/. "$stage/"
        shift
        [[ $# -eq 0 ]] || cp "$@" "$stage/conf.d/"
        sed -i "s|/etc/sluice/conf.d|$stage/conf.d|" "$stage/pipelines.yml"
        "$SLUICE_BIN" -t --path.settings "$stage" --path.data "$stage/data"
    }
    # The settings files alone, through sluice's own loader (unknown keys are errors there).
    sluice_settings_test() { "$SLUICE_BIN" -t --path.settings "$1" -e 'input { generator { count => 1 } } output { null {} }'; }
    for d in deploy/debian/etc/sluice deploy/k8s/base/config deploy/k8s/daemonset/config; do
        check "sluice loads the settings in $d" sluice_settings_test "$d"
    done
    check "sluice -t on deploy/debian/etc/sluice" sluice_config_test deploy/debian/etc/sluice
    check "sluice -t on deploy/k8s/base/config" sluice_config_test deploy/k8s/base/config
    check "sluice -t on deploy/k8s/base/config + the loki component's output (compose, full stack)" \
        sluice_config_test deploy/k8s/base/config deploy/k8s/components/loki/04-loki-output.conf
    check "sluice -t on deploy/k8s/daemonset/config" sluice_config_test deploy/k8s/daemonset/config
else
    say "  skip  sluice -t on the shipped pipelines (set SLUICE_BIN to a sluice binary)"
fi
# A Loki built for the integration tests is used when there is one.
LOKI_BIN="${LOKI_BIN:-}"
[[ -z "$LOKI_BIN" && -x "$CACHE/bin/loki" ]] && LOKI_BIN="$CACHE/bin/loki"
if [[ -n "$LOKI_BIN" ]]; then
    check "loki -verify-config deploy/k8s/components/loki/loki.yaml" "$LOKI_BIN" -verify-config -config.file=deploy/k8s/components/loki/loki.yaml
else
    say "  skip  loki -verify-config (set LOKI_BIN to a loki binary)"
fi

# ------------------------------------------------------------------------------- systemd

section "systemd units"
# verify checks that ExecStart's binary exists: a scratch root holds a stand-in /usr/bin/sluice,
# the system's own units (for the targets the units are ordered after) and the units under test.
SDROOT="$WORK/systemd-root"
mkdir -p "$SDROOT/usr/bin" "$SDROOT/bin" "$SDROOT/etc" "$SDROOT/usr/lib/systemd/system"
printf '#!/bin/sh\nexit 0\n' >"$SDROOT/usr/bin/sluice"
chmod 0755 "$SDROOT/usr/bin/sluice"
cp "$(type -P kill)" "$SDROOT/bin/kill" || die "no kill binary to stand in for /bin/kill"
for d in /usr/lib/systemd/system /lib/systemd/system; do
    [[ -d "$d" ]] && cp -rn "$d"/. "$SDROOT/usr/lib/systemd/system/" 2>/dev/null
done
cp deploy/systemd/*.service deploy/systemd/*.timer "$SDROOT/usr/lib/systemd/system/"
units=()
for u in deploy/systemd/*.service deploy/systemd/*.timer; do units+=("$(basename "$u")"); done

verify_units() {
    # Warnings (an unknown key, a bad value) exit 0 but are printed: any output fails the check.
    local out
    out=$(cd "$SDROOT" && systemd-analyze verify --root="$SDROOT" "${units[@]}" 2>&1) || { echo "$out"; return 1; }
    [[ -z "$out" ]] || { echo "$out"; return 1; }
    echo "${units[*]}: no errors, no warnings"
}
check "systemd-analyze verify ${units[*]}" verify_units
for u in deploy/systemd/*.service; do
    u=$(basename "$u")
    security() {
        local out
        out=$(systemd-analyze security --offline=yes --root="$SDROOT" --threshold="$SYSTEMD_EXPOSURE_THRESHOLD" "$1" 2>&1)
        local rc=$?
        printf '%s\n' "$out" | grep -E '^(→|->) Overall' || printf '%s\n' "$out" | tail -n 1
        [[ $rc -eq 0 ]] || { printf '%s\n' "$out" | grep '✗'; return 1; }
    }
    check "systemd-analyze security $u (exposure at most $((SYSTEMD_EXPOSURE_THRESHOLD / 10)).$((SYSTEMD_EXPOSURE_THRESHOLD % 10)))" security "$u"
done
check "sluice.service runs sluice -t before starting" grep -q '^ExecStartPre=/usr/bin/sluice -t --path.settings /etc/sluice$' deploy/systemd/sluice.service

# ------------------------------------------------------------------------------- debian

section "Debian packaging"
for s in deploy/debian/maintainer-scripts/*; do
    maintainer_script_ok() {
        sh -n "$1" || return 1
        [[ -x "$1" ]] || { echo "$1 is not executable"; return 1; }
        grep -q '^#DEBHELPER#$' "$1" || { echo "$1 has no #DEBHELPER# line for cargo-deb's systemd snippets"; return 1; }
        # cargo-deb replaces the first occurrence of the token, even inside a comment.
        [[ "$(grep -c '#DEBHELPER#' "$1")" == 1 ]] || { echo "$1 mentions #DEBHELPER# more than once"; return 1; }
        echo "$(basename "$1"): sh syntax, executable, #DEBHELPER#"
    }
    check "maintainer script $(basename "$s")" maintainer_script_ok "$s"
done
deb_metadata_ok() {
    python3 - <<'EOF'
import os, sys, tomllib

with open("Cargo.toml", "rb") as f:
    deb = tomllib.load(f)["package"]["metadata"]["deb"]
problems = []
dests = set()
for asset in deb["assets"]:
    src, dest = asset[0], asset[1]
    if not src.startswith("target/release/") and not os.path.exists(src):
        problems.append(f"asset {src} does not exist")
    dests.add("/" + (dest + os.path.basename(src) if dest.endswith("/") else dest))
for conf in deb.get("conf-files", []):
    if conf not in dests:
        problems.append(f"conf-file {conf} is not installed by any asset")
scripts = deb["maintainer-scripts"]
if not os.path.isdir(scripts):
    problems.append(f"maintainer-scripts {scripts} is not a directory")
units = deb["systemd-units"]
units = units if isinstance(units, list) else [units]
found = []
for unit in units:
    directory = unit.get("unit-scripts", scripts)
    name = unit.get("unit-name", "sluice")
    matches = [f for f in os.listdir(directory) if f.rsplit(".", 1)[0] == name]
    if not matches:
        problems.append(f"systemd unit {name} not found in {directory}")
    found += matches
for a in deb["assets"]:
    if "systemd/system" in a[1]:
        problems.append(f"{a[0]} is an asset too: systemd-units already installs it")
if problems:
    print("\n".join(problems))
    sys.exit(1)
print(f"{len(deb['assets'])} assets present, {len(deb.get('conf-files', []))} conf-files, units: {', '.join(sorted(found))}")
EOF
}
check "[package.metadata.deb] in Cargo.toml" deb_metadata_ok

# ------------------------------------------------------------------------------- summary

section "Summary"
if [[ $FAILED -gt 0 ]]; then
    say "Failed:"
    for f in "${FAILURES[@]}"; do say "  - $f"; done
fi
say "validate-deploy took $(($(date +%s) - START))s"
say "$PASSED passed, $FAILED failed"
[[ $FAILED -eq 0 ]]
