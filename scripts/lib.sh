# SPDX-License-Identifier: GPL-2.0
# Shared settings for the KCR scripts. Sourced, never run.
#
# Every path a script writes outside the repository lives under $KCR_CACHE,
# so a checkout stays clean and a second checkout can share the cache.

KCR_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
KCR_CACHE=${KCR_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kcr}
# The patched kernel tree (a git repository made by kcr-worktree).
KCR_WORK=${KCR_WORK:-$KCR_CACHE/linux}
# Out-of-tree build directories, one per configuration.
KCR_BUILD=${KCR_BUILD:-$KCR_CACHE/build}

# Pinned base kernel (see Documentation in DESIGN: Debian's linux-source-7.3).
KCR_BASE_PKG=linux-source-7.3
KCR_BASE_VERSION=7.3.4-1~bpo13+1
KCR_BASE_SHA256=703e369ddd4cce971452f5a593ee55df3a5c10c83caf0fa0df039633ed181ee3
KCR_BASE_SUITE=trixie-backports

export KCR_TOP KCR_CACHE KCR_WORK KCR_BUILD

die() { echo "${0##*/}: error: $*" >&2; exit 1; }
info() { echo "${0##*/}: $*" >&2; }
warn() {
	{
		echo "################################################################"
		echo "# ${0##*/}: WARNING: $*"
		echo "################################################################"
	} >&2
}

# need_pkgs PKG...: install the Debian packages that are missing.
need_pkgs() {
	local missing=() p
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	info "installing ${missing[*]}"
	local sudo=
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# Packages needed to build a kernel and run it in QEMU.
KCR_BUILD_PKGS=(build-essential bc bison flex libelf-dev libssl-dev ccache
	python3-ply python3-git
	cpio kmod rsync python3 xz-utils git quilt)
KCR_QEMU_PKGS=(qemu-system-x86 busybox-static)

# debian_mirror: the Debian mirror the system already uses.
debian_mirror() {
	local uri
	uri=$(grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources |
		awk '{print $2}' | grep -v -- '-security' | head -n 1 || true)
	[ -n "$uri" ] || uri=$(grep -hs '^deb ' /etc/apt/sources.list \
		/etc/apt/sources.list.d/*.list | awk '{print $2}' |
		grep -v -- '-security' | head -n 1 || true)
	[ -n "$uri" ] || die "no Debian mirror found in the system's apt sources"
	echo "$uri"
}

# private_apt DIR TOOL ARGS...: run apt-get or apt-cache on a private
# configuration in DIR (DIR/sources.list, its own lists and archives), so
# that the system's apt state is never changed.
private_apt() {
	local dir=$1 tool=$2
	shift 2
	mkdir -p "$dir/state/lists/partial" "$dir/cache/archives/partial"
	"$tool" -q -o Dir::Etc::sourcelist="$dir/sources.list" \
		-o Dir::Etc::sourceparts=- \
		-o Dir::State="$dir/state" \
		-o Dir::Cache="$dir/cache" \
		-o Debug::NoLocking=1 -o APT::Sandbox::User=root "$@"
}

# ncpus: parallel jobs for make.
ncpus() { nproc 2>/dev/null || echo 2; }

# The identity the scripts commit the base tree with (fixed, so that the
# base commit of a given tree is always the same commit).
KCR_BASE_IDENT=(-c user.name="KCR base" -c user.email="kcr@localhost")
# The committer of the commits the scripts make in the work tree (git am
# of the patches): git needs one, and a newcomer may have none configured.
# Given with -c, so the user's own configuration is never read or changed.
KCR_COMMIT_IDENT=(-c user.name="KCR scripts" -c user.email="kcr@localhost")

# ccache: share objects between build directories and trees (the work tree,
# the check tree), which differ only in their absolute paths.
export CCACHE_DIR=${CCACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/ccache}
export CCACHE_BASEDIR=${CCACHE_BASEDIR:-$KCR_CACHE}
export CCACHE_NOHASHDIR=true
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-10G}

# series_patches: the patch files named by series, in order.
series_patches() {
	grep -v -e '^#' -e '^[[:space:]]*$' "$KCR_TOP/series" | awk '{print $1}'
}

# drop_fixture_data: checkpatch takes the kselftest harness's "FIXTURE_DATA(name) *self" for
# a multiplication; drop those reports, and only those, and the totals.
drop_fixture_data() {
	awk 'BEGIN { RS = ""; ORS = "\n\n" }
	     /spaces preferred around that .\*. \(ctx:WxV\)/ && /FIXTURE_DATA\(/ { next }
	     /^total: / { next }
	     { print }'
}

# result NAME STATUS: print one check's result line for the summaries.
result() {
	if [ "$2" = 0 ]; then
		echo "check: ok     $1"
	else
		echo "check: FAILED $1"
	fi
}

# Use Debian's python3, which has the python3-* packages installed above,
# even where another python3 comes first in PATH.
export PATH=/usr/bin:$PATH

# series_c_files TREE FILTER: the C files of the kernel (not tools/) that
# the commits on kcr-base in TREE add (FILTER A) or change (FILTER M).
series_c_files() {
	git -C "$1" diff --name-only --diff-filter="$2" kcr-base HEAD -- '*.c' ':!tools'
}

# kcr_only_refs TREE YBUILD NBUILD OBJ...: print "OBJ: SYMBOL" for each
# symbol the CONFIG_KCR=n object NBUILD/OBJ refers to that only the files
# the series adds define (as built in YBUILD): with KCR off they are not
# built, so the link would fail. Prints a line too when those files define
# nothing there, so that the check never passes for want of symbols.
kcr_only_refs() {
	local tree=$1 ybuild=$2 nbuild=$3 syms f o
	shift 3
	syms=$(series_c_files "$tree" A | while read -r f; do
		o=$ybuild/${f%.c}.o
		[ ! -f "$o" ] || nm -g --defined-only "$o" | awk '{ print $3 }'
	done | sort -u)
	[ -n "$syms" ] || { echo "(the files the series adds define no symbol in $ybuild)"; return 0; }
	for o in "$@"; do
		[ -f "$nbuild/$o" ] || { echo "$o: (not built)"; continue; }
		nm -u "$nbuild/$o" | awk '{ print $2 }' | sort -u |
			comm -12 - <(echo "$syms") | sed "s|^|$o: |"
	done
}
