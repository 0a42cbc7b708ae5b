/// The address-field table: which fields of each live blob hold addresses (for images to
/// name them), one pooled list per blob, indexed from the blob's slot.
extension ArenaState {
    struct AddressField: Sendable, Hashable {
        let offset: UInt32
        let field: CodeRelocation.Field
    }

    /// A blob's address fields: the first two inline (no allocation for the usual adapter, whose
    /// only address is its target), any others in an array.
    struct AddressFields: Sendable {
        private var count: UInt8 = 0
        private var first = AddressField(offset: 0, field: .absolute64)
        private var second = AddressField(offset: 0, field: .absolute64)
        private var more: [AddressField] = []

        var isEmpty: Bool { count == 0 }

        mutating func append(_ field: AddressField) {
            switch count {
            case 0: first = field
            case 1: second = field
            default: more.append(field)
            }
            count &+= count < 255 ? 1 : 0
        }

        var all: [AddressField] { Array([first, second].prefix(Int(count))) + more }
    }

    /// Records (or, with `nil`, forgets) the address fields of a live blob: a per-slot index into
    /// a pooled list, so commit and free do no hashing for small blobs.
    mutating func setAddressFields(_ fields: AddressFields?, of blob: CodeBlob) {
        let old: UInt32
        if let sizeClass = blob.sizeClass {
            old = classes[sizeClass].fieldLists[blob.region * classes[sizeClass].perRegion + blob.slot]
        } else {
            old = largeFieldLists[blob.address] ?? 0
        }
        if old != 0 {
            fieldStore[Int(old - 1)] = AddressFields()
            freeFieldLists.append(old - 1)
        }
        var new: UInt32 = 0
        if let fields, !fields.isEmpty {
            if let free = freeFieldLists.popLast() {
                fieldStore[Int(free)] = fields
                new = free + 1
            } else {
                fieldStore.append(fields)
                new = UInt32(fieldStore.count)
            }
        }
        if let sizeClass = blob.sizeClass {
            classes[sizeClass].fieldLists[blob.region * classes[sizeClass].perRegion + blob.slot] = new
        } else {
            largeFieldLists[blob.address] = new == 0 ? nil : new
        }
    }

    /// The address fields recorded for a live blob.
    func addressFields(of blob: CodeBlob) -> [AddressField] {
        let list = blob.sizeClass.map { classes[$0].fieldLists[blob.region * classes[$0].perRegion + blob.slot] }
            ?? largeFieldLists[blob.address] ?? 0
        return list == 0 ? [] : fieldStore[Int(list - 1)].all
    }
}
