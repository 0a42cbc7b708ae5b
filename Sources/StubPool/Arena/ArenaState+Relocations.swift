extension ArenaState {
    /// Fills the relocated fields of a just-placed batch through the writable view and records
    /// the fields that hold addresses. Returns the error (the caller takes the batch back) when a
    /// value does not fit its field. (Not a throwing function: a throw out of the arena lock's
    /// closure made the compiler copy the state, and with it the field dictionary, per commit.)
    mutating func relocate(_ placed: [CodeBlob], _ relocations: [[CodeRelocation]]) -> CodeArenaError? {
        for (index, blob) in placed.enumerated() where !relocations[index].isEmpty {
            let bytes = UnsafeMutableRawBufferPointer(start: space.writable(fileOffset(of: blob), count: blob.size), count: blob.size)
            var addresses = AddressFields()
            for relocation in relocations[index] {
                let value: UInt64
                switch relocation.operand {
                case .constant(let constant): value = constant
                case .address(let address): value = UInt64(address)
                case .blob(let other, let offset): value = UInt64(placed[other].address) &+ UInt64(bitPattern: Int64(offset))
                case .parameter(let parameter): return .relocation(.unfilledParameter(parameter), blob: index)
                }
                do throws(CodeRelocationProblem) {
                    try relocation.field.store(value, at: relocation.offset, in: bytes, origin: blob.address)
                } catch {
                    return .relocation(error, blob: index)
                }
                if case .constant = relocation.operand { continue }
                addresses.append(AddressField(offset: UInt32(relocation.offset), field: relocation.field))
            }
            if !addresses.isEmpty { setAddressFields(addresses, of: blob) }
        }
        return nil
    }

    /// Takes a placed batch back entirely: trap fill, accounting, placement.
    mutating func takeBack(_ placed: [CodeBlob], to checkpoint: Checkpoint, trapFill: [UInt8]) {
        for blob in placed {
            space.fill(trapFill, at: fileOffset(of: blob), count: blob.capacity)
            unaccount(blob)
        }
        rollBack(to: checkpoint, placed: placed)
    }
}
