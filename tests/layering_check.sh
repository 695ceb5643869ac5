#!/usr/bin/env bash
# The layering check of the test command: core/ is the bottom of the tree. Everything may include
# it; it includes only the standard library, its own headers and the two header libraries its
# types are made of (tl::expected for Result, fmt for formatting), and its CMake target links
# nothing of the project. Prints each include or link that breaks the rule; exits 1 if any does.
set -euo pipefail
cd "$(dirname "$0")/.."
bad=0
mapfile -t files < <(git ls-files 'core/*.h' 'core/*.cpp')
[ "${#files[@]}" -gt 0 ] || { echo "layering: no files under core/"; exit 1; }
for f in "${files[@]}"; do
  # Quoted includes must name core/ itself; angle includes must be the standard library (no
  # slash, no extension) or one of the allowed third-party headers.
  while IFS= read -r line; do
    inc=$(sed -E 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*([<"])([^>"]+)[>"].*/\1\2/' <<<"$line")
    kind=${inc:0:1}
    path=${inc:1}
    case "$kind$path" in
      \"core/*) ;;
      \<tl/expected.hpp|\<fmt/*) ;;
      \<*/*|\<*.*|\"*) echo "layering: $f includes $path"; bad=1 ;;
    esac
  done < <(grep -E '^[[:space:]]*#[[:space:]]*include' "$f" || true)
done
# The CMake file names no project target but its own and the build-flag interface targets.
others=$(grep -noE 'pn::[a-z_]+' core/CMakeLists.txt | grep -vE 'pn::(core|warnings|sanitizers)$' || true)
if [ -n "$others" ]; then
  echo "layering: core/CMakeLists.txt names project targets:" $others
  bad=1
fi
if [ "$bad" -ne 0 ]; then
  echo "core/ must depend on nothing of the project; move the code that needs more out of core/"
  exit 1
fi
echo "layering: ${#files[@]} files under core/ include only core/, the standard library, tl::expected and fmt"
