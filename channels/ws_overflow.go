package channels

// overflowFinal is the websocket.disconnect event the application gets after the events
// that fit, when its event queue overflowed under OverflowClose.
func (c *wsConn) overflowFinal() Message {
	return disconnectMsg(ClosePolicyViolation, reasonEventQueue, closedByServer)
}

// eventOverflow closes the connection after its channel-layer events passed
// EventQueueBytes under OverflowClose (the mailbox is already closed, with the disconnect
// event queued after the events that fit). The frames already queued are written first.
func (c *wsConn) eventOverflow(queued, limit int) {
	c.mu.Lock()
	open := c.state == stateOpen
	if open {
		c.startCloseLocked(ClosePolicyViolation, reasonEventQueue, true)
	}
	c.mu.Unlock()
	c.srv.logger().Warn("channels: websocket event queue full; closing the connection",
		"path", c.path, "code", ClosePolicyViolation, "reason", reasonEventQueue,
		"queued_bytes", queued, "limit_bytes", limit)
}

// eventsDropped logs the 1st, 2nd, 4th, 8th... event an overflow policy dropped.
func (c *wsConn) eventsDropped(total uint64) {
	if total&(total-1) != 0 {
		return
	}
	c.srv.logger().Warn("channels: websocket event queue full; events dropped",
		"path", c.path, "dropped_total", total)
}
