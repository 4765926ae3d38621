#!/bin/sh
# Reproduces the families zoo/manifests/ migrated from VastModelZOO's cv/classification/.
#   scripts/migrate_vmz.sh PATH/TO/VastModelZOO.git [REV]   (a bare clone or a checkout's .git)
# Run from the repository root with `zoo` on PATH (e.g. .venv/bin). Models already in the zoo are
# skipped, so running it again changes nothing; delete a family's file to migrate it afresh.
set -eu
git_dir=${1:?usage: scripts/migrate_vmz.sh VASTMODELZOO_GIT_DIR [REV]}
rev=${2:-HEAD}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
git --git-dir="$git_dir" archive "$rev" cv/classification | tar -x -C "$work"
zoo import vmz "$work"/cv/classification/*/ --into zoo/manifests/
