package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
)

// buildVersion reads the module version and VCS stamp the Go toolchain
// embeds, so a plain `go build` reports where the binary came from.
func buildVersion() (version, commit string) {
	version, commit = "devel", "unknown"
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version, commit
	}
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		version = v
	}
	modified := false
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			commit = s.Value
			if len(commit) > 12 {
				commit = commit[:12]
			}
		case "vcs.modified":
			modified = s.Value == "true"
		}
	}
	if modified {
		commit += "-dirty"
	}
	return version, commit
}

func versionLine() string {
	v, c := buildVersion()
	return fmt.Sprintf("sentrybot %s (commit %s, %s %s/%s)", v, c, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

func userAgent() string {
	v, _ := buildVersion()
	return "sentrybot/" + v + " (+Socket Mode bridge; " + runtime.Version() + ")"
}
