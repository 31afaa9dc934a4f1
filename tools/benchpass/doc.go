// Package benchpass runs the pass behind BENCHMARKS.md and the README's performance figures
// as one command (tools/cmd/benchpass): it records the commit and the machine, builds every
// binary once, runs each published figure's command -repeat times, and writes one markdown
// report with each figure's median and min–max beside the exact command, plus every run's raw
// output.
//
// The figures are grouped into sections (see Sections); each section names the services it
// needs (a redis-server, Debian's Django Channels packages) and an estimate of its duration,
// and the report gives the estimate beside the time it took. The commands are the existing
// tools' own (tools/cmd/chatload, tools/cmd/idleconns, tools/redisbench, go test -bench of
// the packages, the conformance runner): this package runs them and reads their reports, it
// measures nothing itself. The spread of repeated runs is computed by loadtest.Repeat.
//
// Not in the pass, because they are not figures of one commit: the before/after rows that
// alternate binaries of older commits (chatload -chat-bin), which need those builds. The
// scaling table (chatload -shapes scaling) and the costs per delivery of "Where a
// delivery's time goes" (chatload -profile, one profiled run each, its profiles kept under
// the pass's raw/profiles) are sections of their own.
package benchpass
