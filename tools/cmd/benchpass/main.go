// Command benchpass runs, as one command, every figure that BENCHMARKS.md and the README
// publish, on the current commit, and writes one markdown report:
//
//	go run ./tools/cmd/benchpass -out /tmp/pass                  # the full pass (about 80 min on 2 cores)
//	go run ./tools/cmd/benchpass -out /tmp/pass -only idle-redis  # some sections
//	go run ./tools/cmd/benchpass -plan                            # the sections and their estimates
//	go run ./tools/cmd/benchpass -out /tmp/q -quick               # every command once, tiny sizes
//
// It records the commit (refusing a work tree with uncommitted changes unless -allow-dirty,
// which flags the report), the machine (CPU, cores, memory, OS, kernel, Go, redis-server,
// Python, Django, channels, daphne, channels_redis) and the date; builds every binary once
// into OUT/bin (the tools, examples/chat, the packages' test binaries); then runs each
// section's commands (tools/cmd/chatload, tools/cmd/idleconns, tools/redisbench, the
// packages' benchmarks, the conformance runner) -repeat times where a run is short (once or
// twice where a run is long or repeats inside itself; the report says how many), printing
// each command and each section's estimated and actual duration. OUT/report.md has a table
// per command, each figure's median and (min–max), with its loss and echo-timeout columns
// where the tool reports them, ready to paste into BENCHMARKS.md; OUT/report.json the same
// as data; OUT/raw every run's standard output and error.
//
// A section whose services are missing (redis-server; Debian's python3-daphne,
// python3-django-channels and python3-channels-redis) is skipped and says so, and the
// command exits with status 1 when a section was skipped or a command failed; the report is
// written either way. The machine should be quiet: the tools share its cores with the
// servers, and another load on it moves every figure.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/gochannels/gochannels/tools/benchpass"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "benchpass:", err)
		}
		stop()
		os.Exit(1)
	}
}

// errFailed says that the report was written but something in it failed or was skipped.
var errFailed = errors.New("a section was skipped or a command failed: see the report")

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("benchpass", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "directory for report.md, report.json, the binaries and the raw outputs (required unless -plan)")
	only := fs.String("only", "", "comma-separated sections to run (default all): "+strings.Join(benchpass.SectionNames(), ","))
	repeat := fs.Int("repeat", 3, "runs of each short command (a long one runs once or twice; the report says how many)")
	quick := fs.Bool("quick", false, "every command once with tiny sizes: checks the pass, measures nothing worth publishing")
	allowDirty := fs.Bool("allow-dirty", false, "run on a work tree with uncommitted changes (the report says so)")
	plan := fs.Bool("plan", false, "print the sections, their commands and estimated durations, and exit")
	repo := fs.String("repo", "", "repository root (default: the git work tree of the current directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	var names []string
	if *only != "" {
		names = strings.Split(*only, ",")
	}
	if *plan {
		return printPlan(stdout, names, *repeat, *quick)
	}
	if *out == "" {
		return errors.New("-out is required")
	}
	if *repo == "" {
		top, err := exec.CommandContext(ctx, "git", "rev-parse", "--show-toplevel").Output()
		if err != nil {
			return fmt.Errorf("run inside the repository, or pass -repo: %w", err)
		}
		*repo = strings.TrimSpace(string(top))
	}
	dir, err := filepath.Abs(*out)
	if err != nil {
		return err
	}
	rep, err := benchpass.Pass(ctx, benchpass.Options{
		Repo: *repo, Out: dir, Only: names, Repeat: *repeat, Quick: *quick, AllowDirty: *allowDirty, Progress: stdout,
	})
	if rep != nil && rep.Sections != nil {
		fmt.Fprintf(stdout, "\nbenchpass: took %v (estimated %v); report in %s\n",
			time.Duration(rep.Seconds*float64(time.Second)).Round(time.Second),
			time.Duration(rep.EstimatedSeconds*float64(time.Second)).Round(time.Second),
			filepath.Join(dir, "report.md"))
	}
	if err != nil {
		return err
	}
	if rep.Failed() {
		return errFailed
	}
	return nil
}

// printPlan prints each section's commands and estimate.
func printPlan(w io.Writer, only []string, repeat int, quick bool) error {
	sections, err := benchpass.Select(only)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	var total time.Duration
	for _, s := range sections {
		est := s.Estimate(repeat, quick)
		total += est
		fmt.Fprintf(tw, "%s\t%v\t%s\n", s.Name, est, s.Title)
		for _, r := range s.Runs {
			fmt.Fprintf(tw, "\t\t  %s\n", r.Source)
		}
	}
	fmt.Fprintf(tw, "total\t%v\t(plus the builds: seconds with a warm cache, about 4 min with a cold one on a loaded machine)\n", total)
	return tw.Flush()
}
