#!/usr/bin/env bash
# Builds the test HAPI FHIR server (integration/hapi) into integration/hapi/target/hemopa-hapi.jar,
# plus an extracted copy (target/extracted/hemopa-hapi.jar + lib/) that starts ~25% faster.
#
# Skips the build when the jar exists and is newer than every file of the module (cache).
# Needs Java 17+ and Maven; the first build downloads ~350 MB of dependencies into ~/.m2.
# Safe to run concurrently (several test binaries): builds are serialised with flock.
# Prints one line: "hapi-build: built ..." or "hapi-build: cached ...".
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
module="$(cd "$here/../hapi" && pwd)"
target="$module/target"
jar="$target/hemopa-hapi.jar"
extracted="$target/extracted/hemopa-hapi.jar"

for tool in java mvn; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "hapi-build: '$tool' not found on PATH (need Java 17+ and Maven 3.8+)" >&2
		exit 1
	fi
done

up_to_date() {
	[[ -f "$jar" && -f "$extracted" && ! "$jar" -nt "$extracted" ]] || return 1
	# Any module file (outside target/) newer than the jar means a rebuild.
	[[ -z "$(find "$module" -path "$target" -prune -o -type f -newer "$jar" -print -quit)" ]]
}

if up_to_date; then
	echo "hapi-build: cached $jar"
	exit 0
fi

mkdir -p "$target"
exec 9>"$target/.build.lock"
flock 9
if up_to_date; then # another process built it while we waited for the lock
	echo "hapi-build: cached $jar"
	exit 0
fi

start=$(date +%s)
log="$target/build.log"
if ! (cd "$module" && mvn -B -q package -DskipTests) >"$log" 2>&1; then
	cat "$log" >&2
	echo "hapi-build: FAILED (maven), log above and in $log" >&2
	exit 1
fi
rm -rf "$target/extracted"
if ! java -Djarmode=tools -jar "$jar" extract --destination "$target/extracted" >>"$log" 2>&1; then
	cat "$log" >&2
	echo "hapi-build: FAILED (extract), log above and in $log" >&2
	exit 1
fi
# Maven leaves the jar as it was when no source changed (e.g. only README.md did): touch it too, so the
# cache check above is satisfied from now on instead of rebuilding (and deleting target/extracted under
# a running server) on every call.
touch "$jar" "$extracted"
echo "hapi-build: built $jar in $(($(date +%s) - start))s"
