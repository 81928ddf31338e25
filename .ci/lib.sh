# Shared by .ci/run and .ci/pin-root; source it from the repository root.
# The nested modules (every go.mod but the root's and e2e's) require the root
# module github.com/keyward/apikey by a version, never through a replace, so
# `go install github.com/keyward/apikey/cmd/apikey@latest` works; go.work
# joins them for local development.

ROOT_MODULE=github.com/keyward/apikey

# nested_modules prints the directories of the modules that require the root.
nested_modules() {
	local mod
	for mod in $(find . -name go.mod -not -path './.git/*' -not -path ./go.mod -printf '%h\n' | sort); do
		if grep -Eq "^[[:space:]]*(require[[:space:]]+)?$ROOT_MODULE[[:space:]]+v" "$mod/go.mod"; then
			echo "$mod"
		fi
	done
}

# root_requirement DIR prints the root version DIR/go.mod requires.
root_requirement() {
	awk -v m="$ROOT_MODULE" '$1 == "require" && $2 == m { print $3 } $1 == m && $2 ~ /^v/ { print $2 }' "$1/go.mod"
}

# with_root_from_git CMD...: runs CMD with the workspace off and the root
# module fetched straight from this clone's git history, as the go command
# fetches it from GitHub once the repository is public (same pseudo-versions,
# same go.sum hashes). Other modules come through GOPROXY as usual.
with_root_from_git() {
	local top gitconfig status=0
	top=$(git rev-parse --show-toplevel)
	gitconfig=$(mktemp)
	printf '[url "%s"]\n\tinsteadOf = https://%s\n' "$top" "$ROOT_MODULE" >"$gitconfig"
	GIT_CONFIG_GLOBAL="$gitconfig" GOWORK=off \
		GONOPROXY="$ROOT_MODULE" GONOSUMDB="$ROOT_MODULE" GOPRIVATE= \
		"$@" || status=$?
	rm -f "$gitconfig"
	return $status
}
