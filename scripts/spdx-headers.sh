#!/bin/sh
# Puts the one-line licence header on every .c and .h file of the project:
#   /* SPDX-License-Identifier: Apache-2.0 */   librp (rp/) and common/
#   /* SPDX-License-Identifier: EUPL-1.2 */     everything else (daemon, plugins, tests)
# (LICENSE says why.) Idempotent: a file whose first line already carries an
# SPDX identifier is left as it is; one that names another licence than the
# rule above is reported, and the script then exits 1.
#
#   sh scripts/spdx-headers.sh [-n]      (-n: only list what would change)
set -u
cd "$(dirname "$0")/.." || exit 1
dry=0
[ "${1:-}" = -n ] && dry=1
tmp=$(mktemp) || exit 1
trap 'rm -f "$tmp" "$tmp.list"' EXIT INT TERM
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
	git ls-files -- '*.c' '*.h'
else
	find . -path ./build -prune -o -path ./build-san -prune -o -path ./build-vg -prune -o \
		-path ./debian -prune -o \( -name '*.c' -o -name '*.h' \) -type f -print | sed 's|^\./||'
fi >"$tmp.list"
added=0 kept=0 wrong=0
while IFS= read -r f; do
	case "$f" in
	rp/* | common/*) id=Apache-2.0 ;;
	*) id=EUPL-1.2 ;;
	esac
	first=$(head -n 1 "$f")
	case "$first" in
	*SPDX-License-Identifier:*)
		case "$first" in
		*"SPDX-License-Identifier: $id "*) kept=$((kept + 1)) ;;
		*) echo "spdx: $f: $first (expected $id)" >&2; wrong=$((wrong + 1)) ;;
		esac
		continue ;;
	esac
	added=$((added + 1))
	if [ "$dry" = 1 ]; then
		echo "$f: $id"
		continue
	fi
	# Written in place (cat >), so the file keeps its mode and owner.
	{ printf '/* SPDX-License-Identifier: %s */\n' "$id"; cat "$f"; } >"$tmp" && cat "$tmp" >"$f" || exit 1
done <"$tmp.list"
rm -f "$tmp.list"
echo "spdx: $added added$([ "$dry" = 1 ] && echo ' (dry run)'), $kept already there, $wrong naming another licence"
[ "$wrong" -eq 0 ]
