/* libyaml's event parser, the copy Yams compiles in (Yams' CYaml target is not a product, so
   its functions are declared here by libyaml.h: libyaml 0.2.5's yaml.h exactly as Yams vendors
   it; YamlGuardTests checks that the two stay identical). Yams composes a whole node tree and
   resolves aliases while doing so, so a few hundred bytes of nested aliases cost gigabytes
   before any caller sees a node; at the event level an anchor or alias is one event. */

#define YAML_DECLARE_STATIC
#include "libyaml.h"
#include "CYamlEvents.h"

aphex_yaml_scan_result aphex_yaml_scan(const unsigned char *input, size_t length, size_t max_depth) {
    aphex_yaml_scan_result result = { APHEX_YAML_OK, 0, 0 };
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) return result;
    yaml_parser_set_encoding(&parser, YAML_UTF8_ENCODING);
    yaml_parser_set_input_string(&parser, input, length);
    size_t depth = 0;
    for (;;) {
        yaml_event_t event;
        /* A syntax error: stop here; the composer meets the same error and words it. */
        if (!yaml_parser_parse(&parser, &event)) break;
        int done = 0;
        yaml_char_t *anchor = NULL;
        switch (event.type) {
        case YAML_ALIAS_EVENT: result.finding = APHEX_YAML_ALIAS; break;
        case YAML_SCALAR_EVENT: anchor = event.data.scalar.anchor; break;
        case YAML_SEQUENCE_START_EVENT: anchor = event.data.sequence_start.anchor; depth++; break;
        case YAML_MAPPING_START_EVENT: anchor = event.data.mapping_start.anchor; depth++; break;
        case YAML_SEQUENCE_END_EVENT:
        case YAML_MAPPING_END_EVENT: if (depth > 0) depth--; break;
        case YAML_STREAM_END_EVENT: done = 1; break;
        default: break;
        }
        if (anchor != NULL) result.finding = APHEX_YAML_ANCHOR;
        else if (depth > max_depth) result.finding = APHEX_YAML_TOO_DEEP;
        if (result.finding != APHEX_YAML_OK) {
            result.line = event.start_mark.line + 1;
            result.column = event.start_mark.column + 1;
            done = 1;
        }
        yaml_event_delete(&event);
        if (done) break;
    }
    yaml_parser_delete(&parser);
    return result;
}
