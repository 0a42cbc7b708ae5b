import CStubPoolShim

/// The objects (executable and shared libraries) loaded in this process, as `dl_iterate_phdr`
/// reports them: load bias, loaded ranges, path and GNU build-id. How an image names addresses
/// that no exported symbol covers, and finds them again in another process.
struct LoadedObjects {
    struct Object {
        /// The load bias: an address minus it is the object's virtual address.
        let bias: UInt
        let ranges: [Range<UInt>]
        let path: String
        let buildID: [UInt8]?
    }

    let objects: [Object]

    /// Enumerates the loaded objects now.
    static func current() -> LoadedObjects {
        final class Collector {
            var objects: [Object] = []
            var bias: UInt = 0
            var path = ""
            var ranges: [Range<UInt>] = []
            var buildID: [UInt8]?

            func finish() {
                guard !ranges.isEmpty else { return }
                objects.append(Object(bias: bias, ranges: ranges, path: path.isEmpty ? "(main executable)" : path, buildID: buildID))
                ranges = []
                buildID = nil
            }
        }
        let collector = Collector()
        withExtendedLifetime(collector) {
            stubpool_visit_loaded_segments({ context, bias, name, first, type, address, size in
                let collector = Unmanaged<Collector>.fromOpaque(context!).takeUnretainedValue()
                if first != 0 {
                    collector.finish()
                    collector.bias = bias
                    collector.path = name.map { String(cString: $0) } ?? ""
                }
                let start = bias &+ address
                if type == 1 {  // PT_LOAD
                    collector.ranges.append(start..<start &+ size)
                } else if type == 4, collector.buildID == nil {  // PT_NOTE
                    collector.buildID = LoadedObjects.buildID(inNotes: UnsafeRawBufferPointer(
                        start: UnsafeRawPointer(bitPattern: start), count: Int(size)))
                }
            }, Unmanaged.passUnretained(collector).toOpaque())
            collector.finish()
        }
        return LoadedObjects(objects: collector.objects)
    }

    /// The `NT_GNU_BUILD_ID` note's descriptor among the notes in `notes`.
    static func buildID(inNotes notes: UnsafeRawBufferPointer) -> [UInt8]? {
        var offset = 0
        func aligned(_ value: Int) -> Int { (value + 3) & ~3 }
        while offset + 12 <= notes.count {
            let nameSize = Int(notes.loadUnaligned(fromByteOffset: offset, as: UInt32.self))
            let descriptorSize = Int(notes.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self))
            let type = notes.loadUnaligned(fromByteOffset: offset + 8, as: UInt32.self)
            let name = offset + 12, descriptor = name + aligned(nameSize)
            guard descriptor + descriptorSize <= notes.count else { return nil }
            // NT_GNU_BUILD_ID (3), owner "GNU\0".
            if type == 3, nameSize == 4, Array(notes[name..<name + 4]) == [0x47, 0x4E, 0x55, 0] {
                return Array(notes[descriptor..<descriptor + descriptorSize])
            }
            offset = descriptor + aligned(descriptorSize)
        }
        return nil
    }

    /// The object whose loaded ranges contain `address`.
    func object(containing address: UInt) -> Object? {
        objects.first { $0.ranges.contains { $0.contains(address) } }
    }

    /// The object with this build-id.
    func object(buildID: [UInt8]) -> Object? {
        objects.first { $0.buildID == buildID }
    }

    /// The exported symbol that covers `address` (`dladdr`), if looking its name up globally
    /// (`dlsym(RTLD_DEFAULT)`) gives back the same symbol: the name then means this address in
    /// any process that loads the same objects in the same order of precedence.
    static func exportedSymbol(containing address: UInt) -> (name: String, start: UInt)? {
        var name: UnsafePointer<CChar>?
        var start: UnsafeRawPointer?
        guard stubpool_dladdr(UnsafeRawPointer(bitPattern: address), &name, &start) != 0, let name, let start else { return nil }
        let text = String(cString: name)
        guard let global = exported(text), global == UInt(bitPattern: start) else { return nil }
        return (text, global)
    }

    /// `dlsym(RTLD_DEFAULT, name)`.
    static func exported(_ name: String) -> UInt? {
        stubpool_dlsym_default(name).map { UInt(bitPattern: $0) }
    }
}
