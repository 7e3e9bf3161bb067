#!/usr/bin/env bash
# Coverage-guided fuzzing of Dfer's file parsers with libFuzzer + SharpFuzz (docs/fuzzing.md).
#
#   scripts/fuzz.sh TARGET SECONDS [libFuzzer args...]   fuzz one target (scripts/fuzz.sh list)
#   scripts/fuzz.sh all SECONDS [libFuzzer args...]      every target in turn
#   scripts/fuzz.sh ci [SECONDS]                         self-test of the set-up, then all (default 60 s each)
#   scripts/fuzz.sh selftest                             only the self-test
#   scripts/fuzz.sh replay TARGET FILE|DIR...            run inputs in-process, uninstrumented
#   scripts/fuzz.sh seeds                                rewrite the generated seeds (FuzzCorpusTests)
#   scripts/fuzz.sh list                                 the targets
#
# Builds native/fuzz's driver (when stale) and tests/Dfer.Fuzz, copies the build to
# $DFER_FUZZ_OUT/bin (default build/fuzz/bin) and instruments Dfer.Engine.dll and dfer.dll there
# with the local SharpFuzz tool. Seeds come from tests/Dfer.Fuzz/corpus/TARGET (read only); new inputs
# go to build/fuzz/corpus/TARGET and findings to build/fuzz/findings/TARGET, which it prints.
# Exits 1 when a target has a finding, 2 on a set-up error. Installs nothing: it needs clang-14,
# libFuzzer's runtime (Debian: libclang-rt-14-dev) and the tools of `dotnet tool restore`.
#
# Environment: DFER_FUZZ_OUT (work folder), DFER_FUZZ_TIMEOUT (per input, s; default 10),
# DFER_FUZZ_HEAP_LIMIT (the .NET GC heap limit, hex bytes; default 0x40000000 = 1 GiB),
# DFER_FUZZ_RSS_LIMIT_MB (peak RSS of the .NET process; default 1536), DFER_FUZZ_MAX_LEN
# (largest input, bytes; default 65536), DFER_FUZZ_VERBOSE=1 (show libFuzzer's output live),
# DFER_FUZZ_SKIP_BUILD=1 (use the instrumented build already in $DFER_FUZZ_OUT/bin, e.g. for runs
# side by side).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${DFER_FUZZ_OUT:-$root/build/fuzz}"
project="$root/tests/Dfer.Fuzz"
corpus_root="$project/corpus"
bin_src="$project/bin/Release/net10.0"
driver_src="$root/native/fuzz/dfer_fuzz_driver.c"
driver="$out/dfer-fuzz-driver"
timeout_s="${DFER_FUZZ_TIMEOUT:-10}"
heap_limit="${DFER_FUZZ_HEAP_LIMIT:-0x40000000}"
rss_limit_mb="${DFER_FUZZ_RSS_LIMIT_MB:-1536}"
max_len="${DFER_FUZZ_MAX_LEN:-65536}"
targets=(pth safetensors npy tfjs results-jsonl results-csv dfew-csv ffprobe temporal)

say() { echo "fuzz: $*"; }
die() { echo "fuzz: error: $*" >&2; exit 2; }

usage() { sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2; }

check_tools() {
    command -v dotnet >/dev/null 2>&1 || die "dotnet (the .NET 10 SDK) is not on PATH"
    command -v clang-14 >/dev/null 2>&1 || die "clang-14 is missing (Debian: apt-get install clang-14 libclang-rt-14-dev)"
    compgen -G "/usr/lib/llvm-14/lib/clang/*/lib/linux/libclang_rt.fuzzer-x86_64.a" >/dev/null ||
        die "libFuzzer's runtime is missing (Debian: apt-get install libclang-rt-14-dev)"
    (cd "$root" && dotnet tool run sharpfuzz >/dev/null 2>&1) ||
        die "the sharpfuzz tool is missing: run 'dotnet tool restore' in $root"
}

build_driver() {
    mkdir -p "$out"
    if [[ ! -x "$driver" || "$driver_src" -nt "$driver" ]]; then
        say "building the libFuzzer driver"
        clang-14 -O1 -g -Wall -Wextra -Werror -fsanitize=fuzzer "$driver_src" -o "$driver.tmp"
        mv "$driver.tmp" "$driver"
    fi
}

# Builds tests/Dfer.Fuzz and makes the instrumented copy in $out/bin (hard links, except the
# assemblies that SharpFuzz rewrites in place).
build_targets() {
    say "building tests/Dfer.Fuzz"
    (cd "$root" && dotnet build "$project/Dfer.Fuzz.csproj" -c Release -nologo -v q -clp:ErrorsOnly) >"$out/build.log" 2>&1 ||
        { cat "$out/build.log" >&2; die "the build failed"; }
    rm -rf "$out/bin"
    cp -al "$bin_src" "$out/bin"
    local dll
    for dll in Dfer.Engine.dll dfer.dll Dfer.Fuzz.dll; do
        rm -f "$out/bin/$dll"
        cp "$bin_src/$dll" "$out/bin/$dll"
    done
    say "instrumenting Dfer.Engine.dll, dfer.dll and the self-test target"
    {
        (cd "$root" && dotnet tool run sharpfuzz "$out/bin/Dfer.Engine.dll") &&
        (cd "$root" && dotnet tool run sharpfuzz "$out/bin/dfer.dll") &&
        (cd "$root" && dotnet tool run sharpfuzz "$out/bin/Dfer.Fuzz.dll" Dfer.Fuzz.SelfTest)
    } >"$out/instrument.log" 2>&1 || { cat "$out/instrument.log" >&2; die "instrumentation failed"; }
}

prepare() {
    check_tools
    build_driver
    if [[ "${DFER_FUZZ_SKIP_BUILD:-0}" == 1 && -f "$out/bin/Dfer.Fuzz.dll" ]]; then
        say "using the instrumented build in $out/bin"
    else
        build_targets
    fi
}

# The seeds of a target: its committed corpus (regressions included) less the findings that are
# still open (listed in corpus/open-findings.txt), which would stop every run at once.
make_seeds() {
    local t="$1" seeds="$out/seeds/$1"
    rm -rf "$seeds"
    mkdir -p "$seeds"
    if [[ -d "$corpus_root/$t" ]]; then
        cp -r "$corpus_root/$t/." "$seeds/"
        if [[ -f "$corpus_root/open-findings.txt" ]]; then
            local line
            while read -r line _; do
                [[ "$line" == "$t/"* ]] && rm -f "$seeds/${line#"$t/"}"
            done < <(grep -v '^#' "$corpus_root/open-findings.txt" || true)
        fi
    fi
    echo "$seeds"
}

# The driver's command line for a target, after the libFuzzer flags.
dotnet_flags() {
    echo "--exec=dotnet" "--arg=$out/bin/Dfer.Fuzz.dll" "--arg=$1" "--rss_limit_mb=$rss_limit_mb"
}

run_driver() {
    DOTNET_GCHeapHardLimit="$heap_limit" DOTNET_gcServer=0 DOTNET_CLI_TELEMETRY_OPTOUT=1 \
        DOTNET_TieredCompilation=1 "$driver" "$@"
}

stat_of() { sed -n "s/^stat::$1: *//p" "$2" | tail -1; }

# fuzz_one TARGET SECONDS [libFuzzer args...]: returns 0 when nothing was found, 1 on a finding.
fuzz_one() {
    local t="$1" secs="$2"
    shift 2
    local scratch="$out/corpus/$t" findings="$out/findings/$t" log="$out/logs/$t.log" seeds dict=()
    mkdir -p "$scratch" "$findings" "$out/logs"
    seeds="$(make_seeds "$t")"
    [[ -f "$project/dict/$t.dict" ]] && dict=("-dict=$project/dict/$t.dict")
    local before
    before=$(find "$scratch" -type f | wc -l)
    say "$t: fuzzing for $secs s (log $log)"
    local rc=0
    # shellcheck disable=SC2046
    if [[ "${DFER_FUZZ_VERBOSE:-0}" == 1 ]]; then
        run_driver -max_total_time="$secs" -timeout="$timeout_s" -max_len="$max_len" \
            -artifact_prefix="$findings/" -print_final_stats=1 "${dict[@]}" "$@" \
            $(dotnet_flags "$t") "$scratch" "$seeds" 2>&1 | tee "$log" || rc=${PIPESTATUS[0]}
    else
        run_driver -max_total_time="$secs" -timeout="$timeout_s" -max_len="$max_len" \
            -artifact_prefix="$findings/" -print_final_stats=1 "${dict[@]}" "$@" \
            $(dotnet_flags "$t") "$scratch" "$seeds" >"$log" 2>&1 || rc=$?
    fi
    local after execs rate
    after=$(find "$scratch" -type f | wc -l)
    execs=$(stat_of number_of_executed_units "$log")
    rate=$(stat_of average_exec_per_sec "$log")
    if [[ $rc -ne 0 ]]; then
        tail -n 40 "$log" | sed "s/^/  $t| /"
        say "$t: FINDING (libFuzzer exit $rc) after ${execs:-?} execs; inputs in $findings/:"
        ls -t "$findings" | head -5 | sed 's/^/  /'
        say "$t: reproduce with scripts/fuzz.sh replay $t FILE; make it a regression test by copying it to tests/Dfer.Fuzz/corpus/$t/regressions/"
        return 1
    fi
    local bytes
    bytes=$(find "$scratch" -type f -printf '%s\n' | awk '{ s += $1 } END { print s + 0 }')
    say "$t: no finding: ${execs:-?} execs (${rate:-?}/s), corpus $before -> $after files (+$((after - before)); $bytes bytes in $scratch)"
    return 0
}

# The set-up must report every kind of finding: the planted exception is found by fuzzing from an
# empty corpus, and the planted death, hang, heap exhaustion and nameless refusal are each reported
# when replayed. Returns 0 when all are.
selftest() {
    local dir="$out/selftest" ok=0
    rm -rf "$dir"
    mkdir -p "$dir/corpus" "$dir/findings" "$dir/inputs"
    say "selftest: fuzzing for the planted input 'DFER' (at most 180 s)"
    local rc=0
    run_driver -max_total_time=180 -timeout="$timeout_s" -max_len=8 -artifact_prefix="$dir/findings/" \
        $(dotnet_flags selftest) "$dir/corpus" >"$dir/find.log" 2>&1 || rc=$?
    local found
    found=$(find "$dir/findings" -type f -name 'crash-*' -exec cat {} \; 2>/dev/null | head -c 16 || true)
    if [[ $rc -ne 0 && "$found" == "DFER" ]]; then
        say "selftest: found 'DFER' after $(grep -c '#[0-9]*.*NEW' "$dir/find.log" || true) new inputs (exit $rc)"
    else
        tail -n 20 "$dir/find.log" | sed 's/^/  selftest| /'
        say "selftest: FAILED: the planted input was not found (exit $rc, artifact '$found')"
        ok=1
    fi
    local kind input expect
    for kind in die hang oom nameless; do
        input="$dir/inputs/$kind"
        printf 'dfer-selftest:%s' "$kind" >"$input"
        case "$kind" in
            die) expect='the .NET process was killed by signal 9' ;;
            hang) expect='libFuzzer: timeout after' ;;
            oom) expect='System.OutOfMemoryException' ;;
            nameless) expect='Dfer.Fuzz.FuzzInvariantException' ;;
        esac
        rc=0
        # The hang needs a short -timeout; filling a 1 GiB heap can take seconds on a busy machine.
        local limit=60
        [[ "$kind" == hang ]] && limit=5
        run_driver -timeout="$limit" -artifact_prefix="$dir/findings/$kind-" $(dotnet_flags selftest) "$input" \
            >"$dir/$kind.log" 2>&1 || rc=$?
        if [[ $rc -ne 0 ]] && grep -qF "$expect" "$dir/$kind.log"; then
            say "selftest: '$kind' reported (exit $rc: $expect)"
        else
            tail -n 20 "$dir/$kind.log" | sed "s/^/  $kind| /"
            say "selftest: FAILED: '$kind' was not reported as expected ('$expect', exit $rc)"
            ok=1
        fi
    done
    return $ok
}

replay() {
    local t="$1"
    shift
    (cd "$root" && dotnet build "$project/Dfer.Fuzz.csproj" -c Release -nologo -v q -clp:ErrorsOnly) >&2
    dotnet "$bin_src/Dfer.Fuzz.dll" "$t" "$@"
}

[[ $# -ge 1 ]] || usage
cmd="$1"
shift
case "$cmd" in
    list)
        printf '%s\n' "${targets[@]}"
        ;;
    seeds)
        cd "$root"
        DFER_FUZZ_WRITE_SEEDS=1 dotnet test tests/Dfer.Tests -c Release \
            --filter "FullyQualifiedName~FuzzCorpusTests.GeneratedSeedsAreCurrent"
        ;;
    replay)
        [[ $# -ge 2 ]] || usage
        replay "$@"
        ;;
    selftest)
        prepare
        selftest
        ;;
    ci)
        secs="${1:-60}"
        prepare
        status=0
        selftest || status=1
        for t in "${targets[@]}"; do fuzz_one "$t" "$secs" || status=1; done
        [[ $status -eq 0 ]] && say "ci: self-test passed; no finding in ${#targets[@]} targets" || say "ci: FAILED (see above)"
        exit $status
        ;;
    all)
        [[ $# -ge 1 ]] || usage
        secs="$1"
        shift
        prepare
        status=0
        for t in "${targets[@]}"; do fuzz_one "$t" "$secs" "$@" || status=1; done
        exit $status
        ;;
    *)
        [[ " ${targets[*]} selftest " == *" $cmd "* ]] || die "no target '$cmd' (scripts/fuzz.sh list)"
        [[ $# -ge 1 ]] || usage
        secs="$1"
        shift
        prepare
        fuzz_one "$cmd" "$secs" "$@" || exit 1
        ;;
esac
