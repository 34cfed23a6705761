/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.bench;

import org.junit.jupiter.api.Test;

import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

class JsonTest {
    @Test
    void shouldWriteNumbersWithSixSignificantDigitsAndKeepTheirMagnitude() {
        assertEquals("547290", Json.number(547_290.0));
        assertEquals("100000", Json.number(100_000.0));
        assertEquals("25370000", Json.number(25_370_012.5));
        assertEquals("25497", Json.number(25_497.0));
        assertEquals("0.25", Json.number(0.25));
        assertEquals("1.07", Json.number(1.07));
        assertEquals("0", Json.number(0.0));
        assertEquals("-3.5", Json.number(-3.5));
        assertEquals("0.00000123457", Json.number(0.000_001_234_567));
    }

    @Test
    void shouldWriteADocumentWithNestedValuesEscapedStringsAndNonFiniteNumbersAsNull() {
        final Map<String, Object> document = new LinkedHashMap<>();
        document.put("name", "a \"b\"\n");
        document.put("values", List.of(1, 2.5, Double.NaN));
        document.put("empty", Map.of());
        assertEquals("{\n  \"name\": \"a \\\"b\\\"\\n\",\n  \"values\": [\n    1,\n    2.5,\n    null\n  ],\n  \"empty\": {}\n}\n",
            Json.write(document));
    }

    @Test
    void shouldWriteOneLineThatParsesBackToTheSameValuesWithDoublesExact() {
        final Map<String, Object> document = new LinkedHashMap<>();
        document.put("name", "a \"b\"\n\t\\ \u0001");
        document.put("seconds", List.of(0.1 + 0.2, 1e-9, 123_456_789.123_456_7, -0.0, 1e300));
        document.put("count", 7_739_003L);
        document.put("nested", Map.of("ok", true, "none", List.of()));
        document.put("missing", null);
        final String line = Json.writeLine(document);
        assertEquals(-1, line.indexOf('\n'), line);
        assertEquals(document, Json.parse(line));
        // The indented report reads back too, but only to six significant digits, a whole double as an integer.
        assertEquals(Map.of("p50", 441L, "mean", 123457L), Json.parse(Json.write(Map.of("p50", 441L, "mean", 123_456.7))));
    }

    @Test
    void shouldParseIntegersAsLongsAndOtherNumbersAsDoubles() {
        assertEquals(List.of(0L, -12L, Long.MAX_VALUE, 1.5, -2.0e-3, 1e20, 3.0e5, 92233720368547758070.0),
            Json.parse(" [0, -12, 9223372036854775807, 1.5, -2.0e-3, 1E20, 3e+5, 92233720368547758070] "));
        assertEquals("\u00e9/\"", Json.parse("\"\\u00e9\\/\\\"\""));
        assertNull(Json.parse("null"));
        assertEquals(false, Json.parse("false"));
    }

    @Test
    void shouldRejectWhatIsNotOneJsonValue() {
        for (final String text : List.of("", "{", "[1,]", "{\"a\" 1}", "{1: 2}", "01", "1.", "-", "tru", "\"a",
            "\"\\x\"", "\"\\u12\"", "1 2", "{} x", "\"a\nb\"", "NaN")) {
            final IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> Json.parse(text), text);
            assertTrue(e.getMessage().startsWith("JSON: expected "), e.getMessage());
        }
    }
}
