package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/gochannels/gochannels/tools/loadtest"
	"go.uber.org/goleak"
)

// childEnv makes the test binary act as the server child.
const childEnv = "IDLECONNS_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		if err := run(os.Args[1:], os.Stdout, os.Stderr, nil); err != nil {
			fmt.Fprintln(os.Stderr, "idleconns child:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// testChild runs this test binary as the server child.
func testChild(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		panic(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), childEnv+"=1")
	return cmd
}

var perConn = regexp.MustCompile(`RSS per idle connection: -?\d+\.\d\d KiB`)

// TestMeasure: 50 connections, for the trivial application and for the chat consumer: the
// run reports a per-connection figure and the 51 sockets open on the server.
func TestMeasure(t *testing.T) {
	for _, args := range [][]string{{"-n", "50", "-per-addr", "20"}, {"-n", "50", "-chat", "-rooms", "3", "-v"}} {
		var out, errOut bytes.Buffer
		if err := run(args, &out, &errOut, testChild); err != nil {
			t.Fatalf("%v: %v (%s)", args, err, errOut.String())
		}
		if !perConn.MatchString(out.String()) || !strings.Contains(out.String(), "51 open on the server") {
			t.Fatalf("%v: output %q", args, out.String())
		}
	}
}

// TestLostConnection: a connection that ends mid-run fails the run, naming it.
func TestLostConnection(t *testing.T) {
	var out bytes.Buffer
	err := measure(context.Background(), config{n: 50, perAddr: 20, rooms: 1, child: testChild,
		midRun: func(_ string, conns []*loadtest.Conn, failed <-chan struct{}) {
			_ = conns[9].Close()
			<-failed // its reader has seen it
		}}, &out)
	if err == nil || !strings.Contains(err.Error(), "connection 9 lost") {
		t.Fatalf("a lost connection: %v (output %q)", err, out.String())
	}
	if perConn.MatchString(out.String()) {
		t.Fatalf("a figure was reported for a failed run: %q", out.String())
	}
}

// TestServerCount: a socket on the server's port that is not a measured client makes the
// server's count wrong, and the run fails.
func TestServerCount(t *testing.T) {
	var out bytes.Buffer
	var extra *loadtest.Conn
	err := measure(context.Background(), config{n: 50, perAddr: 20, rooms: 1, chat: true, child: testChild,
		midRun: func(base string, _ []*loadtest.Conn, _ <-chan struct{}) {
			var derr error
			extra, derr = (&loadtest.Dialer{}).Dial(context.Background(), base+"/ws/chat/x/", 0)
			if derr != nil {
				t.Error(derr)
			}
		}}, &out)
	if extra != nil {
		extra.Close()
	}
	if err == nil || !strings.Contains(err.Error(), "holds 52 open connections") {
		t.Fatalf("an extra socket: %v (output %q)", err, out.String())
	}
}
