package channels

import "testing"

// TestClosedByServer: the closes the server decides itself (the reasons it sends) are told
// apart from the client's; a client may send any code, but not with the server's reasons.
func TestClosedByServer(t *testing.T) {
	for _, c := range []struct {
		code   int
		reason string
		server bool
	}{
		{ClosePolicyViolation, reasonSlowClient, true},
		{CloseGoingAway, reasonGoingAway, true},
		{CloseGoingAway, reasonIdleTimeout, true},
		{CloseAbnormal, reasonPongTimeout, true},
		{CloseAbnormal, reasonReadTimeout, true},
		{CloseAbnormal, reasonShutDown, true},
		{CloseProtocolError, "anything", true},
		{CloseInvalidPayload, "", true},
		{CloseMessageTooBig, "", true},
		{CloseNormal, "", false},
		{CloseGoingAway, "", false}, // a browser leaving the page
		{CloseAbnormal, "", false},  // the client's connection dropped
		{ClosePolicyViolation, "not allowed", false},
	} {
		if got := ClosedByServer(c.code, c.reason); got != c.server {
			t.Errorf("ClosedByServer(%d, %q) = %v", c.code, c.reason, got)
		}
		if got := IsSlowClient(c.code, c.reason); got != (c.code == ClosePolicyViolation && c.server) {
			t.Errorf("IsSlowClient(%d, %q) = %v", c.code, c.reason, got)
		}
	}
	if !IsSlowClient(errSlowClient.Code, errSlowClient.Reason) {
		t.Error("the server's own slow-client close is not recognised")
	}
}
