# Sourced by the load scripts. wrk_run ARGS...: one wrk run of $duration seconds over
# $connections connections; prints "requests/s p50 p99", failing on any non-2xx answer.
wrk_run() {
  wrk -t2 -c"$connections" -d"${duration}s" --latency "$@" | awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2}
    /^ +99%/ {p99=$2}
    /Non-2xx/ {bad=$NF}
    END {if (bad) {print "non-2xx answers: " bad > "/dev/stderr"; exit 1}; print rps, p50, p99}'
}
