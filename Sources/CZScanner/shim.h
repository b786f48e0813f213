// Knot DNS's zone-file scanner (libzscanner, Debian's libknot-dev): what ZoneFileLoader reads master files with.
#include <libzscanner/scanner.h>

// The record's owner and RDATA buffers (arrays too large for Swift to import as tuples).
static inline const uint8_t *uplink_zs_owner(const zs_scanner_t *s) { return s->r_owner; }
static inline const uint8_t *uplink_zs_rdata(const zs_scanner_t *s) { return s->r_data; }
