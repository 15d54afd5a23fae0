/// Finishing a partial dataset file (placeholder until the decompressing reader lands).
enum DatasetRecovery {
    static func finish(part: String, into final: String, level: Int32) throws(IOError) -> UInt64 {
        throw IOError("recovery not available yet")
    }
}
