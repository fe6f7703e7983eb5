package netpoll

// Peak returns the most entries the armed handles' map has held since it
// was made.
func (p *Poller) Peak() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.wait.Peak()
}
