"""Limits that keep hostile or mistaken input from taking the machine down (no imports: the CLI reads them
for its help texts before anything heavy is loaded)."""

# Feature ids above this are refused (file:line) unless raised: one stray id of 10,000,000 would make every
# row 10 million columns wide. The largest public ranking datasets have about 700 features.
MAX_FEATURE_ID = 1_000_000

# A chunk's rows are made dense [rows, largest id]; beyond this many bytes the ids are far sparser than a
# ranking dataset's, and the block is refused (naming the row of its largest id) instead of exhausting memory.
MAX_DENSE_BLOCK_BYTES = 256 << 20
