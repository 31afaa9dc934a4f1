package loadtest

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Servers StartCluster can start.
const (
	// ServerGo is examples/chat.
	ServerGo = "gochannels"
	// ServerDjango is the reference Django Channels chat (djangoref/ beside this file: the
	// tutorial's consumer under daphne, with channels_redis or the in-memory layer), so that
	// one run of the same load tool on the same machine measures both.
	ServerDjango = "django"
)

// DjangoPython is the interpreter that runs the Django reference: Debian's, which has the
// python3-django-channels, python3-daphne and python3-channels-redis packages.
var DjangoPython = "/usr/bin/python3"

//go:embed djangoref/*.py
var djangoRef embed.FS

// checkDjango reports a clear error when the reference server cannot run here.
func checkDjango() error {
	if _, err := os.Stat(DjangoPython); err != nil {
		return fmt.Errorf("loadtest: the Django reference needs %s: %w", DjangoPython, err)
	}
	out, err := exec.Command(DjangoPython, "-c", "import daphne, channels, channels_redis, django").CombinedOutput()
	if err != nil {
		return fmt.Errorf("loadtest: the Django reference needs daphne, channels and channels_redis for %s (Debian: apt-get install python3-daphne python3-django-channels python3-channels-redis): %w: %s",
			DjangoPython, err, out)
	}
	return nil
}

// writeDjangoRef writes the reference project into dir/djangoref.
func writeDjangoRef(dir string) error {
	sub, err := fs.Sub(djangoRef, "djangoref")
	if err != nil {
		return err
	}
	if err := os.CopyFS(filepath.Join(dir, "djangoref"), sub); err != nil {
		return fmt.Errorf("loadtest: write the Django reference: %w", err)
	}
	return nil
}

// djangoLayer maps a chat server -layer value to the reference's DJANGOREF_LAYER.
func djangoLayer(layer string) (string, error) {
	switch {
	case layer == "memory://":
		return "memory", nil
	case strings.HasPrefix(layer, "redis://"):
		return layer, nil
	}
	return "", errors.New("loadtest: the Django reference takes memory:// or a redis:// URL as its layer, not " + layer)
}
