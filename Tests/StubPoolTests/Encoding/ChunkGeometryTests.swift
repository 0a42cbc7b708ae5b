import Testing
@testable import StubPool

@Suite struct ChunkGeometryTests {
    static let codeSizes = stride(from: ChunkGeometry.regionGranularity, through: ChunkGeometry.maximumCodeSize,
                                  by: ChunkGeometry.regionGranularity).map { $0 }

    @Test("Every variant's chunk is valid on 4, 16 and 64 KiB pages, on both architectures")
    func regionsFitEveryPageSize() throws {
        for architecture in Architecture.allCases {
            let encoder = architecture.encoder
            for kind in StubKind.allCases {
                for pads in [false, true] {
                    let variant = StubVariant(kind: kind, landingPad: pads)
                    for codeSize in Self.codeSizes {
                        for pageSize in ChunkGeometry.supportedPageSizes {
                            let geometry = try ChunkGeometry(pageSize: pageSize, slotSize: encoder.slotSize(for: variant), codeSize: codeSize)
                            #expect(geometry.codeSize % pageSize == 0 && geometry.dataSize % pageSize == 0)
                            #expect(geometry.dataSize >= geometry.physicalSlots * ChunkGeometry.dataSlotSize)
                            #expect(geometry.farthestDataReference <= encoder.dataReach, "\(architecture) \(variant) \(codeSize)")
                        }
                    }
                }
            }
        }
    }

    @Test func codeSizesOutsideTheShapeAreRejected() {
        for codeSize in [0, 4096, 16 * 1024, 96 * 1024, 1 << 20, -65536] {
            #expect(ChunkGeometry.problem(codeSize: codeSize, slotSize: 16) != nil, "\(codeSize)")
            #expect(throws: StubPoolError.self) { try StubPool(.init(codeSize: codeSize)) }
            #expect(throws: StubPoolError.self) {
                try TemplateInspection(architecture: .arm64, variant: .init(kind: .forward), codeSize: codeSize)
            }
        }
    }

    /// One rule for page sizes (4, 16 or 64 KiB), the same answer from the geometry and from a
    /// template inspection: 8 and 32 KiB divide 64 KiB but are no kernel's page size.
    @Test func pageSizesAreCheckedByOneRule() throws {
        for pageSize in [0, 2048, 8192, 32_768, 131_072, 4095] {
            let expected = StubPoolError.invalidConfiguration("page size \(pageSize) is not one of \(ChunkGeometry.supportedPageSizes)")
            #expect(throws: expected) { try ChunkGeometry(pageSize: pageSize, slotSize: 16) }
            #expect(throws: expected) {
                try TemplateInspection(architecture: .arm64, variant: .init(kind: .forward), pageSize: pageSize)
            }
        }
        for pageSize in ChunkGeometry.supportedPageSizes { #expect(ChunkGeometry.problem(pageSize: pageSize) == nil) }
    }

    @Test func largestChunkStillReachesItsAnchorOnAArch64() throws {
        // The first forward stub's released entry loads the anchor, almost 1 MiB away.
        let inspection = try TemplateInspection(architecture: .arm64, variant: .init(kind: .forward),
                                                codeSize: ChunkGeometry.maximumCodeSize)
        let word = try inspection.slot(0)[8..<12].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let imm19 = Int(Int32(bitPattern: (word >> 5 & 0x7_FFFF) << 13) >> 13)
        #expect(word & 0xFF00_001F == 0x5800_0010, "ldr x16, literal")
        #expect(8 + imm19 * 4 == inspection.geometry.dataOffset(ofSlot: inspection.geometry.anchorSlot))
    }
}
