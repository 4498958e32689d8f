#!/usr/bin/env bash
# Regenerates the README's config table from the field table (dnnrec config --markdown).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
binary=${DNNREC:-$root/build/dnnrec}
table=$(mktemp)
trap 'rm -f "$table"' EXIT
"$binary" config --markdown > "$table"
awk -v table="$table" '
  /<!-- config-table:begin -->/ { print; while ((getline line < table) > 0) print line; skip = 1; next }
  /<!-- config-table:end -->/ { skip = 0 }
  !skip { print }
' "$root/README.md" > "$root/README.md.tmp"
mv "$root/README.md.tmp" "$root/README.md"
echo "update-readme-table.sh: README.md config table regenerated"
