import CPcap

/// A libpcap filter expression (tcpdump's syntax, pcap-filter(7)) compiled to classic BPF for one
/// capture's link type and snaplen, and run on each record with `pcap_offline_filter`: unlike
/// `pcap_setfilter` on an offline handle, which drops the records it rejects unseen, this lets
/// `PcapSource` count them.
final class PcapExpression {
    let text: String
    private let program = UnsafeMutablePointer<bpf_program>.allocate(capacity: 1)

    /// Compiles `text` for `handle`'s link type and snaplen (optimized; the netmask is unknown, so
    /// `ip broadcast` is refused). Throws `reason`: libpcap's (`pcap_geterr`), naming the expression.
    init(_ text: String, handle: OpaquePointer) throws(Failure) {
        self.text = text
        program.initialize(to: bpf_program())
        // On failure the program stays empty (deinit, which still runs, frees nothing of it).
        guard pcap_compile(handle, program, text, 1, PCAP_NETMASK_UNKNOWN) == 0 else {
            throw Failure(reason: "filter expression \"\(text)\": \(String(cString: pcap_geterr(handle)))")
        }
    }

    deinit {
        pcap_freecode(program)
        program.deallocate()
    }

    /// Whether the expression accepts the record (`data` holds `header.caplen` bytes).
    func accepts(_ header: UnsafePointer<pcap_pkthdr>, _ data: UnsafePointer<UInt8>) -> Bool {
        pcap_offline_filter(program, header, data) != 0
    }

    struct Failure: Error {
        var reason: String
    }
}
