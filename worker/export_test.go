package worker

// Stopping returns a channel closed once w's stop has begun (its slots receive nothing more),
// so that a test can wait for the stop instead of sleeping; nil before Start.
func Stopping(w *Worker) <-chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.stopping
}
