package pf

import "fmt"

// Variant is one deliberately corrupted copy of a protected file.
type Variant struct {
	Name string // e.g. "meta_plain_nonce_0", "data_swap_0_1", "trunc_meta_enc_2"
	What string // human description
	Data []byte
}

// TamperVariants produces corrupted copies of a valid protected file, in the
// spirit of gramine-sgx-pf-tamper: plain-header bytes flipped, metadata
// fields changed and re-encrypted with the right key, root MHT entries
// changed, data nodes flipped or swapped, the file cut at field and node
// boundaries or extended. Every variant must fail to open or to read
// (tests check that). key and path must open raw.
func TamperVariants(raw []byte, key [16]byte, path string) ([]Variant, error) {
	mb := NewMemBacking(raw)
	f, err := Open(mb, path, key, Options{ReadOnly: true})
	if err != nil {
		return nil, err
	}
	size := f.meta.size
	meta := f.meta
	hdr := f.hdr
	f.Close()
	if hdr.major != majorV2 {
		return nil, fmt.Errorf("pf tamper: only format v2 files are supported (got v%d)", hdr.major)
	}

	var out []Variant
	add := func(name, what string, data []byte) {
		out = append(out, Variant{Name: name, What: what, Data: data})
	}
	flip := func(name, what string, off int) {
		if off >= len(raw) {
			return
		}
		d := clone(raw)
		d[off] ^= 0xff
		add(name, what, d)
	}
	// Plain part of node 0.
	flip("meta_plain_id_0", "first byte of the magic flipped", 0)
	flip("meta_plain_id_1", "last byte of the magic flipped", 7)
	setVer := func(name string, v byte) {
		d := clone(raw)
		d[8] = v
		add(name, fmt.Sprintf("major version set to %d", v), d)
	}
	setVer("meta_plain_version_0", 0)
	setVer("meta_plain_version_1", 3)
	flip("meta_plain_nonce_0", "first nonce byte flipped", metaNonceOff)
	flip("meta_plain_nonce_1", "last nonce byte flipped", metaNonceOff+31)
	flip("meta_plain_mac_0", "first metadata tag byte flipped", metaMACOff)
	flip("meta_plain_mac_1", "last metadata tag byte flipped", metaMACOff+15)
	flip("meta_plain_encrypted_0", "first encrypted metadata byte flipped", v2EncOffset)
	flip("meta_plain_encrypted_1", "last encrypted metadata byte flipped", v2EncOffset+encMetaSize-1)

	// Encrypted part of node 0, re-encrypted with the right key.
	reenc := func(name, what string, change func(m *metaPlain)) {
		m := meta
		change(&m)
		d := clone(raw)
		var plain, enc [encMetaSize]byte
		m.marshal(plain[:])
		k := deriveMetadataKey(key, hdr.nonce)
		tag := sealNode(k[:], plain[:], enc[:], make([]byte, 0, encMetaSize+tagSize))
		copy(d[metaMACOff:], tag[:])
		copy(d[v2EncOffset:], enc[:])
		add(name, what, d)
	}
	reenc("meta_enc_filename_0", "bound path: first byte changed", func(m *metaPlain) { m.path[0] ^= 1 })
	reenc("meta_enc_filename_1", "bound path: one byte appended", func(m *metaPlain) {
		if n := len(m.boundPath()); n < MaxPathLen {
			m.path[n] = 'x'
		}
	})
	reenc("meta_enc_filename_2", "bound path: emptied", func(m *metaPlain) { clear(m.path[:]) })
	if size > MetaDataSize {
		reenc("meta_enc_size_0", "size + 4096", func(m *metaPlain) { m.size += NodeSize })
		reenc("meta_enc_size_1", "size rounded up past the last node", func(m *metaPlain) { m.size = EncryptedSize(m.size) })
		reenc("meta_enc_size_2", "size set to 2^62", func(m *metaPlain) { m.size = 1 << 62 })
		reenc("meta_enc_mht_key_0", "root MHT key: first byte flipped", func(m *metaPlain) { m.rootKey[0] ^= 1 })
		reenc("meta_enc_mht_key_1", "root MHT key: last byte flipped", func(m *metaPlain) { m.rootKey[15] ^= 1 })
		reenc("meta_enc_mht_mac_0", "root MHT tag: first byte flipped", func(m *metaPlain) { m.rootMAC[0] ^= 1 })
		reenc("meta_enc_mht_mac_1", "root MHT tag: last byte flipped", func(m *metaPlain) { m.rootMAC[15] ^= 1 })

		// Root MHT node changed and re-encrypted under its key; the tag in
		// the metadata no longer matches.
		var root [NodeSize]byte
		sc := make([]byte, 0, NodeSize+tagSize)
		if err := openNode(meta.rootKey[:], meta.rootMAC[:], raw[NodeSize:2*NodeSize], root[:], sc); err != nil {
			return nil, err
		}
		mht := func(name, what string, change func(p []byte)) {
			p := root
			change(p[:])
			d := clone(raw)
			sealNode(meta.rootKey[:], p[:], d[NodeSize:2*NodeSize], sc)
			add(name, what, d)
		}
		mht("mht_0", "data entry 0: key byte flipped", func(p []byte) { p[0] ^= 1 })
		mht("mht_1", "data entry 0: tag byte flipped", func(p []byte) { p[16] ^= 1 })
		mht("mht_2", "data entries 0 and 1 swapped", func(p []byte) { swap(p, 0, entrySize, entrySize) })
		mht("mht_3", "data entry 95 changed", func(p []byte) { p[95*entrySize] ^= 1 })
		mht("mht_4", "child entry 0 changed", func(p []byte) { p[96*entrySize] ^= 1 })

		// Data nodes.
		last := int(EncryptedSize(size)/NodeSize) - 1
		flip("data_0", "data node 0: first byte flipped", 2*NodeSize)
		flip("data_1", "data node 0: middle byte flipped", 2*NodeSize+NodeSize/2)
		flip("data_2", "last node: last byte flipped", (last+1)*NodeSize-1)
		if last >= 3 {
			d := clone(raw)
			swap(d, 2*NodeSize, 3*NodeSize, NodeSize)
			add("data_swap_0_1", "data nodes 0 and 1 swapped", d)
			d = clone(raw)
			swap(d, NodeSize, 2*NodeSize, NodeSize)
			add("data_swap_mht", "root MHT node and data node 0 swapped", d)
		}
	}

	// Truncation at field boundaries of node 0, node 1 and the data nodes.
	cuts := []int{0, 4, 8, 9, 10, 26, 42, 50, 58, 59, 445, 831, 839, 863, 2407, 3943, 4019, 4095, 4096,
		NodeSize + 8, NodeSize + 3072, 2*NodeSize - 1}
	for i := 2; i*NodeSize < len(raw); i++ {
		cuts = append(cuts, i*NodeSize, i*NodeSize+NodeSize/2)
	}
	for i, c := range cuts {
		if c < len(raw) {
			add(fmt.Sprintf("trunc_%d", i), fmt.Sprintf("cut to %d bytes", c), clone(raw[:c]))
		}
	}
	add("extend_0", "one byte appended", append(clone(raw), 0))
	return out, nil
}

func clone(b []byte) []byte { return append([]byte(nil), b...) }

func swap(b []byte, i, j, n int) {
	t := clone(b[i : i+n])
	copy(b[i:i+n], b[j:j+n])
	copy(b[j:j+n], t)
}
