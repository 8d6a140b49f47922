// jemalloc's options for the programs (compiled into each one that links
// portal_allocator; jemalloc reads this symbol at start). MALLOC_CONF in the
// environment still overrides it: MALLOC_CONF=thp:default gives the kernel's
// choice back.
//
// thp:always: jemalloc asks for transparent huge pages (madvise) on the memory it
// maps. Most kernels (Debian's and this VM's) give them only to memory that asks.
// A page fault on fresh memory cost about 10 to 14 microseconds on our VMs, and the
// large transient structures (an import's decisions and its 100 MB batch, the
// write model built at start) touched hundreds of thousands of 4 KiB pages: a
// 100,000-row import faulted 102,000 times in the command processor alone. With
// huge pages, imports ran about 38% faster, the start on a million events 25%
// faster, create-user about 20%; memory held rose from 32 to 67 MiB for an idle
// server and by 5% (446 to 469 MiB) after a start on a million events
// (README.md, Decisions).
extern "C" {
// NOLINTNEXTLINE: the name and type are jemalloc's.
const char* malloc_conf = "thp:always";
}
