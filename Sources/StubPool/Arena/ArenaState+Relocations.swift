extension ArenaState {
    /// Fills the relocated fields of a just-placed batch through the writable view and records
    /// the fields that hold addresses. Returns the error (the caller takes the batch back) when a
    /// value does not fit its field. (Not a throwing function: a throw out of the arena lock's
    /// closure made the compiler copy the state, and with it the field dictionary, per commit.)
    mutating func relocate(_ placed: [CodeBlob], _ relocations: CodeArena.BatchRelocations) -> CodeArenaError? {
        switch relocations {
        case .perBlob(let fields, let starts):
            for (index, blob) in placed.enumerated() where starts[index] < starts[index + 1] {
                let own = fields[starts[index]..<starts[index + 1]]
                if let failure = relocate(blob, index: index, own, placed: placed, arguments: []) { return failure }
            }
        case .template(let fields, let arguments):
            guard !fields.isEmpty else { return nil }
            for (index, blob) in placed.enumerated() {
                if let failure = relocate(blob, index: index, fields[...], placed: placed, arguments: arguments[index]) { return failure }
            }
        }
        return nil
    }

    /// Fills one blob's fields (`arguments` for its parameters).
    private mutating func relocate(_ blob: CodeBlob, index: Int, _ fields: ArraySlice<CodeRelocation>, placed: [CodeBlob],
                                   arguments: [CodeOperand]) -> CodeArenaError? {
        let bytes = UnsafeMutableRawBufferPointer(start: space.writable(fileOffset(of: blob), count: blob.size), count: blob.size)
        var addresses = AddressFields()
        for relocation in fields {
            var operand = relocation.operand
            if case .parameter(let parameter) = operand { operand = arguments[parameter] }
            let value: UInt64
            switch operand {
            case .constant(let constant): value = constant
            case .address(let address): value = UInt64(address)
            case .blob(let other, let offset): value = UInt64(placed[other].address) &+ UInt64(bitPattern: Int64(offset))
            case .parameter(let parameter): return .relocation(.unfilledParameter(parameter), blob: index)
            }
            do throws(CodeRelocationError) {
                try relocation.field.store(value, at: relocation.offset, in: bytes, origin: blob.address)
            } catch {
                return .relocation(error, blob: index)
            }
            if case .constant = operand { continue }
            addresses.append(AddressField(offset: UInt32(relocation.offset), field: relocation.field))
        }
        if !addresses.isEmpty { setAddressFields(addresses, of: blob) }
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
