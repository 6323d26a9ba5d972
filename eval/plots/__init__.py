"""Report figures: line plots, bar charts and example-image sheets.

`lines` and `bars` draw charts with matplotlib through the frame in `chart`; `sheet` lays out image grids with numpy
and OpenCV. matplotlib is imported inside the chart functions and used through ``Figure`` and ``FigureCanvasAgg``:
no pyplot, no global backend, nothing kept between calls. So importing these modules, or checking a config, never
loads it. Charts render at 150 dpi to exactly the requested size. Sizes are ``(width, height)`` in pixels, images
RGB uint8. Every PNG is written atomically: a temp file in the same folder, then ``os.replace``. The class and depth
colours come from `crossmodal.colours`.
"""
