#ifndef APHEX_CYAMLEVENTS_H
#define APHEX_CYAMLEVENTS_H

#include <stddef.h>

/* What a scan found first. */
typedef enum {
    APHEX_YAML_OK = 0,        /* no anchor, no alias, not too deep (or a syntax error: Yams reports it) */
    APHEX_YAML_ANCHOR = 1,    /* &name */
    APHEX_YAML_ALIAS = 2,     /* *name */
    APHEX_YAML_TOO_DEEP = 3,  /* collections nested deeper than max_depth */
} aphex_yaml_finding;

typedef struct {
    aphex_yaml_finding finding;
    /* 1-based position of the finding. */
    size_t line;
    size_t column;
} aphex_yaml_scan_result;

/* Reads `input` (UTF-8, as Yams parses it) event by event with libyaml's parser and stops at
   the first anchor, alias or collection nested deeper than `max_depth`. Builds nothing, so
   its cost is linear in the input whatever the input holds. */
aphex_yaml_scan_result aphex_yaml_scan(const unsigned char *input, size_t length, size_t max_depth);

#endif
