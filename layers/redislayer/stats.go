package redislayer

// Stats counts what a Layer did since it was created.
type Stats struct {
	// Sent counts messages added by Send.
	Sent uint64
	// GroupWrites counts keys written by GroupSend (one per process inbox or normal channel,
	// however many members it serves).
	GroupWrites uint64
	// GroupOverCapacity counts GroupSend targets skipped because their key was full.
	GroupOverCapacity uint64
	// Received counts messages taken from Redis (by the receive loops and Receive).
	Received uint64
	// Delivered counts messages handed to a local channel (a Listen callback or a Receive
	// buffer); one message for n local members counts n.
	Delivered uint64
	// Dropped counts local deliveries lost: a Listen callback refused the message, a Receive
	// buffer was full, no local channel had that name, or a buffer nobody read expired.
	Dropped uint64
	// Undecodable counts stored messages that could not be decrypted or decoded; each is
	// logged and dropped.
	Undecodable uint64
	// Pruned counts group members removed because their Go process stopped heartbeating.
	Pruned uint64
	// ReceiveErrors counts failed Redis calls of the receive loops (each followed by a retry
	// after a capped exponential backoff).
	ReceiveErrors uint64
	// GroupSnapshotHits counts group sends that reused the stored snapshot of their group's
	// members instead of reading and re-encoding every member (see GroupSend).
	GroupSnapshotHits uint64
	// SendRetries counts Redis calls of Send, GroupSend, GroupAdd and GroupDiscard repeated
	// because Redis could not be reached (see Options.SendTimeout).
	SendRetries uint64
	// PipelinedGroupSends counts group sends GroupSend accepted into the send pipeline
	// (Options.PipelineDepth) instead of awaiting their replies.
	PipelinedGroupSends uint64
	// LostGroupSends counts pipelined group sends that failed after GroupSend had returned
	// nil for them (each is logged, and reported once by LostGroupSendsError).
	LostGroupSends uint64
}

// Stats returns the layer's counters.
func (l *Layer) Stats() Stats {
	return Stats{
		Sent:              l.st.sent.Load(),
		GroupWrites:       l.st.groupWrites.Load(),
		GroupOverCapacity: l.st.groupOver.Load(),
		Received:          l.st.received.Load(),
		Delivered:         l.delivery.Delivered.Load(),
		Dropped:           l.delivery.Dropped.Load(),
		Undecodable:       l.st.undecodable.Load(),
		Pruned:            l.st.pruned.Load(),
		ReceiveErrors:     l.st.recvErrs.Load(),
		GroupSnapshotHits: l.st.snapshotHits.Load(),
		SendRetries:       l.st.sendRetries.Load(),

		PipelinedGroupSends: l.st.pipelined.Load(),
		LostGroupSends:      l.st.lostGroupSends.Load(),
	}
}
