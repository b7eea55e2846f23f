#!/usr/bin/env bash
# tests/install/test_install.sh — installs Sluice into a temporary prefix, builds the project `sluice new-job` writes against it, runs its test and the job with the installed sluice, and checks the .deb CPack makes holds the same.
# Usage: test_install.sh BUILD_DIR
set -euo pipefail
build=$(cd "$1" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAILED: $*" >&2; exit 1; }

prefix=$work/prefix
cmake --install "$build" --prefix "$prefix" >/dev/null
for f in bin/sluice bin/nexmark include/sluice/sluice.hpp include/sluice/version.hpp \
         include/sluice/testing/harness.hpp lib/cmake/Sluice/SluiceConfig.cmake lib/cmake/Sluice/SluiceJob.cmake; do
  [ -e "$prefix/$f" ] || fail "the install has no $f"
done
# The installed programs load the installed libsluice, not the build tree's.
lib=$(ldd "$prefix/bin/sluice" | awk '/libsluice/ {print $3}')
[ -n "$lib" ] && [ "$(realpath "$lib")" = "$(realpath "$prefix")/lib/libsluice.so" ] ||
  fail "installed sluice loads '$lib', not $prefix's libsluice"
"$prefix/bin/nexmark" --help >/dev/null || fail "installed nexmark does not start"
# Engine-only interfaces stay out of the public headers (they would change the job fingerprint).
if grep -rqE "CheckpointableBackend|SnapshotRequest|BackendSnapshot" "$prefix/include"; then
  fail "the installed headers declare engine-only snapshot interfaces: $(grep -rlE 'CheckpointableBackend|SnapshotRequest|BackendSnapshot' "$prefix/include")"
fi

# A job project outside the tree, made by the installed sluice.
"$prefix/bin/sluice" new-job "$work/Click-Sessions" >/dev/null
[ -f "$work/Click-Sessions/src/click_sessions.hpp" ] || fail "new-job wrote no src/click_sessions.hpp"
grep -q "KeyedProcessFunction" "$work/Click-Sessions/src/click_sessions.hpp" || fail "the job has no KeyedProcessFunction"
# A second new-job into a folder that holds something is refused and changes nothing.
set +e
"$prefix/bin/sluice" new-job "$work/Click-Sessions" 2>"$work/err"; rc=$?
set -e
[ $rc -eq 2 ] || fail "new-job into a used folder exited $rc, not 2"
grep -q "already exists" "$work/err" || fail "new-job into a used folder said: $(cat "$work/err")"

# Only the install is visible to the job's build: the prefix is named, nothing of the tree is.
cmake -S "$work/Click-Sessions" -B "$work/job-build" -DCMAKE_PREFIX_PATH="$prefix" >/dev/null
cmake --build "$work/job-build" -j2 >/dev/null
grep -q "$build" "$work/job-build/CMakeCache.txt" && fail "the job's build refers to the build tree $build"
(cd "$work/job-build" && ctest --output-on-failure >/dev/null) || fail "the job's harness test failed"

"$prefix/bin/sluice" run "$work/job-build/click_sessions.so" -p 2 --worker-threads 2 >"$work/out"
sed 's/^[0-9]*> //' "$work/out" | sort >"$work/sessions"
cat >"$work/expected" <<'END'
ann: 1 click from 90000 to 90000 ms
ann: 3 clicks from 1000 to 9000 ms
bob: 1 click from 2000 to 2000 ms
bob: 2 clicks from 70000 to 71000 ms
cid: 1 click from 3000 to 3000 ms
END
diff "$work/expected" "$work/sessions" || fail "the job's sessions differ from the expected ones"

# The .deb holds the same files under /usr, and a job builds against it unpacked elsewhere.
(cd "$work" && cpack -G DEB -B "$work/deb" --config "$build/CPackConfig.cmake" >/dev/null)
deb=$(ls "$work"/deb/*.deb)
dpkg-deb -c "$deb" >"$work/contents"
for f in ./usr/bin/sluice ./usr/bin/nexmark ./usr/include/sluice/sluice.hpp ./usr/lib/cmake/Sluice/SluiceConfig.cmake; do
  grep -q " $f\$" "$work/contents" || fail "the .deb has no $f"
done
grep -q "libsluice.so" "$work/contents" || fail "the .deb has no libsluice"
dpkg-deb -f "$deb" Depends | grep -q "libcaf" || fail "the .deb does not depend on CAF: $(dpkg-deb -f "$deb" Depends)"
dpkg-deb -x "$deb" "$work/root"
"$work/root/usr/bin/sluice" --version | grep -q "^sluice " || fail "the unpacked sluice does not run"
echo "install, new-job, job build, harness test, run and .deb: all as expected"
