/*
 * Copyright 2026 The Isthmus Authors
 * SPDX-License-Identifier: Apache-2.0
 */
package dev.isthmus.tools.demo;

import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.style.Styler;
import org.knowm.xchart.style.markers.SeriesMarkers;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

/**
 * The demo's chart: median round trip against file size, both axes logarithmic, one line per mode (the zero-copy
 * server spinning, and asleep between requests).
 */
final class DemoChart {
    private DemoChart() {
    }

    /**
     * Writes the chart as a PNG.
     *
     * @param file    where to write it
     * @param results the demo's results
     */
    static void write(final Path file, final List<Map<String, Object>> results) {
        System.setProperty("java.awt.headless", "true");
        final double[] sizes = new double[results.size()];
        final double[] classic = new double[results.size()];
        final double[] zeroCopy = new double[results.size()];
        final double[] asleep = new double[results.size()];
        for (int i = 0; i < results.size(); i++) {
            sizes[i] = ((Long) results.get(i).get("size_bytes")).doubleValue() / (1 << 20);
            classic[i] = ((Long) results.get(i).get("classic_p50_ns")).doubleValue() / 1e3;
            zeroCopy[i] = ((Long) results.get(i).get("zero_copy_p50_ns")).doubleValue() / 1e3;
            asleep[i] = ((Long) results.get(i).get("zero_copy_server_asleep_p50_ns")).doubleValue() / 1e3;
        }
        final XYChart chart = new XYChartBuilder().width(900).height(560)
            .title("Cache demo: GetCacheReq -> GetCacheRsp root, two JVMs (median)")
            .xAxisTitle("file size (MiB)").yAxisTitle("round trip (microseconds)").build();
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setYAxisLogarithmic(true);
        chart.getStyler().setLegendPosition(Styler.LegendPosition.InsideNW);
        chart.getStyler().setChartBackgroundColor(java.awt.Color.WHITE);
        chart.getStyler().setYAxisDecimalPattern("#,##0.#");
        chart.getStyler().setXAxisDecimalPattern("#,##0.#");
        chart.addSeries("classic: Cap'n Proto copied through a Unix socket", sizes, classic).setMarker(SeriesMarkers.CIRCLE);
        chart.addSeries("zero-copy: Cap'n Proto read in place in shared memory", sizes, zeroCopy)
            .setMarker(SeriesMarkers.DIAMOND);
        chart.addSeries("zero-copy, the server woken from a futex sleep", sizes, asleep).setMarker(SeriesMarkers.SQUARE);
        try {
            BitmapEncoder.saveBitmap(chart, file.toString(), BitmapEncoder.BitmapFormat.PNG);
        } catch (final IOException e) {
            throw new UncheckedIOException("cannot write the chart to " + file, e);
        }
    }
}
