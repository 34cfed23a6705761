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
}
