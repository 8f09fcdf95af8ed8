package pf

// node is a cached data or MHT node. plain holds the decrypted contents, enc
// the ciphertext as last read from or written to the host file (all zero for
// a node that does not exist on disk yet; it is the pre-image the recovery
// journal records).
type node struct {
	mht        bool
	logical    uint64 // logical data or MHT node number
	physical   uint64
	parent     *node // MHT node holding this node's key and tag
	children   int   // cached nodes whose parent is this node
	dirty      bool
	plain      [NodeSize]byte
	enc        [NodeSize + tagSize]byte // ciphertext, then room for the tag
	prev, next *node                    // LRU list, head = most recently used
}

// entry returns the (key, tag) slot of a child in an MHT node's plaintext.
func (n *node) dataEntry(d uint64) []byte {
	i := d % attachedData
	return n.plain[i*entrySize : (i+1)*entrySize]
}

func (n *node) childEntry(m uint64) []byte {
	i := attachedData + (m-1)%childMHT
	return n.plain[i*entrySize : (i+1)*entrySize]
}

// lru is Gramine's lruc: a map plus a list, most recently used first.
// get bumps, find does not, add inserts at the head.
type lru struct {
	m          map[uint64]*node
	head, tail *node
}

func newLRU() *lru { return &lru{m: make(map[uint64]*node)} }

func (c *lru) len() int { return len(c.m) }

func (c *lru) find(phys uint64) *node { return c.m[phys] }

func (c *lru) get(phys uint64) *node {
	n := c.m[phys]
	if n != nil && c.head != n {
		c.unlink(n)
		c.pushFront(n)
	}
	return n
}

func (c *lru) add(n *node) {
	c.m[n.physical] = n
	c.pushFront(n)
	if n.parent != nil {
		n.parent.children++
	}
}

func (c *lru) remove(n *node) {
	delete(c.m, n.physical)
	c.unlink(n)
	if n.parent != nil {
		n.parent.children--
	}
	clear(n.plain[:]) // scrub plaintext of evicted nodes
}

func (c *lru) unlink(n *node) {
	if n.prev != nil {
		n.prev.next = n.next
	} else {
		c.head = n.next
	}
	if n.next != nil {
		n.next.prev = n.prev
	} else {
		c.tail = n.prev
	}
	n.prev, n.next = nil, nil
}

func (c *lru) pushFront(n *node) {
	n.next = c.head
	n.prev = nil
	if c.head != nil {
		c.head.prev = n
	}
	c.head = n
	if c.tail == nil {
		c.tail = n
	}
}

func (c *lru) clearAll() {
	for c.tail != nil {
		c.remove(c.tail)
	}
}
