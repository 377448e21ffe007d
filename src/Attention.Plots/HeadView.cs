using System.Text;
using System.Text.Json;

namespace Attention.Plots;

/// <summary>
/// An interactive attention head view in one self-contained HTML file (no CDN, no network: the script and styles are
/// inline), in the manner of bertviz's head view (Vig, 2019): the tokens twice, queries on the left and keys on the
/// right, a line from query i to key j drawn with opacity α_ij for every selected head (one colour per head). Hover a
/// query to see only where it looks (click to keep it); a layer menu and one toggle per head choose what is drawn.
/// The weights travel as JSON (rounded to 4 decimals) inside a <c>type="application/json"</c> script element, and the
/// page builds its text with <c>textContent</c>, so no token can inject markup.
/// </summary>
public static class HeadView
{
    /// <summary>
    /// Writes the view. <paramref name="attention"/>[layer][head] is a (T, T) matrix, rows = queries, columns = keys,
    /// T = <paramref name="tokens"/>.Count.
    /// </summary>
    /// <exception cref="ArgumentException">No layer or head, a matrix that is not T × T, a ragged layer, or a non-finite weight.</exception>
    public static void Write(string path, IReadOnlyList<string> tokens, IReadOnlyList<IReadOnlyList<float[,]>> attention, string title)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(path);
        ArgumentNullException.ThrowIfNull(tokens);
        ArgumentNullException.ThrowIfNull(attention);
        ArgumentNullException.ThrowIfNull(title);
        int t = tokens.Count;
        if (t == 0) throw new ArgumentException("expected at least one token, got none", nameof(tokens));
        if (attention.Count == 0) throw new ArgumentException("expected at least one layer, got none", nameof(attention));
        int heads = attention[0].Count;
        if (heads == 0) throw new ArgumentException("expected at least one head in layer 0, got none", nameof(attention));
        var data = new double[attention.Count][][][];
        for (int l = 0; l < attention.Count; l++)
        {
            if (attention[l].Count != heads)
                throw new ArgumentException($"expected {heads} heads in every layer (as layer 0), got {attention[l].Count} in layer {l}", nameof(attention));
            data[l] = new double[heads][][];
            for (int h = 0; h < heads; h++)
            {
                var m = attention[l][h];
                if (m.GetLength(0) != t || m.GetLength(1) != t)
                    throw new ArgumentException($"expected {t} × {t} weights (one row and column per token), got {m.GetLength(0)} × {m.GetLength(1)} at layer {l}, head {h}", nameof(attention));
                data[l][h] = new double[t][];
                for (int i = 0; i < t; i++)
                {
                    data[l][h][i] = new double[t];
                    for (int j = 0; j < t; j++)
                    {
                        float w = m[i, j];
                        if (!float.IsFinite(w))
                            throw new ArgumentException($"expected finite weights, got {w} at layer {l}, head {h}, row {i}, column {j}", nameof(attention));
                        data[l][h][i][j] = Math.Round(w, 4);
                    }
                }
            }
        }
        var payload = JsonSerializer.Serialize(new { title, tokens, attention = data });
        // inside <script type="application/json"> only "</" could end the element early; JSON allows "<\/"
        payload = payload.Replace("</", "<\\/", StringComparison.Ordinal);
        var dir = Path.GetDirectoryName(Path.GetFullPath(path));
        if (!string.IsNullOrEmpty(dir)) Directory.CreateDirectory(dir);
        File.WriteAllText(path, Page(payload, title), new UTF8Encoding(false));
    }

    private static string Page(string payload, string title)
    {
        var html = new StringBuilder();
        html.Append("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>")
            .Append(System.Net.WebUtility.HtmlEncode(title)).Append("</title>\n<style>\n").Append(Style).Append("</style>\n</head>\n<body>\n")
            .Append("<h1 id=\"title\"></h1>\n<div id=\"controls\"><label>Layer <select id=\"layer\"></select></label> <span id=\"heads\"></span>")
            .Append(" <button id=\"all\" type=\"button\">all heads</button> <button id=\"none\" type=\"button\">none</button></div>\n")
            .Append("<p class=\"hint\">Hover a token on the left (a query) to see which keys it attends to, click it to keep it; line opacity is the weight.</p>\n")
            .Append("<svg id=\"view\" role=\"img\" aria-label=\"attention lines between query and key tokens\"></svg>\n")
            .Append("<script type=\"application/json\" id=\"data\">").Append(payload).Append("</script>\n<script>\n").Append(Script).Append("</script>\n</body>\n</html>\n");
        return html.ToString();
    }

    private const string Style = """
        body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
        @media (prefers-color-scheme: dark) { body { color: #ddd; background: #181818; } text { fill: #ddd; } }
        h1 { font-size: 1.1em; }
        #controls label { margin-right: 1em; }
        #heads label { margin-right: .4em; white-space: nowrap; }
        .swatch { display: inline-block; width: .8em; height: .8em; border-radius: 2px; vertical-align: middle; }
        .hint { color: #777; font-size: .9em; }
        svg text { font: 13px system-ui, sans-serif; cursor: default; fill: currentColor; }
        svg text.active { font-weight: bold; }
        svg text.pinned { text-decoration: underline; }
        svg text[data-side="query"] { cursor: pointer; }
        """;

    private const string Script = """
        (() => {
        "use strict";
        const data = JSON.parse(document.getElementById("data").textContent);
        const T = data.tokens.length, H = data.attention[0].length;
        const colours = ["#1f77b4","#ff7f0e","#2ca02c","#d62728","#9467bd","#8c564b","#e377c2","#7f7f7f","#bcbd22","#17becf","#393b79","#637939"];
        const colour = h => colours[h % colours.length];
        const svgNs = "http://www.w3.org/2000/svg";
        const svg = document.getElementById("view"), layerSel = document.getElementById("layer"), headBox = document.getElementById("heads");
        document.getElementById("title").textContent = data.title;
        const row = 22, left = 150, right = 450, y0 = 20;
        svg.setAttribute("width", right + 160); svg.setAttribute("height", y0 + T * row + 10);
        const selected = new Array(H).fill(true);
        let hovered = -1, pinned = -1;
        data.attention.forEach((_, l) => { const o = document.createElement("option"); o.value = l; o.textContent = l; layerSel.appendChild(o); });
        layerSel.value = data.attention.length - 1;
        for (let h = 0; h < H; h++) {
          const label = document.createElement("label"), box = document.createElement("input"), sw = document.createElement("span");
          box.type = "checkbox"; box.checked = true; box.dataset.head = h;
          box.addEventListener("change", () => { selected[h] = box.checked; draw(); });
          sw.className = "swatch"; sw.style.background = colour(h);
          label.appendChild(box); label.appendChild(sw); label.appendChild(document.createTextNode(" " + h));
          headBox.appendChild(label);
        }
        function setAll(v) { headBox.querySelectorAll("input").forEach((b, h) => { b.checked = v; selected[h] = v; }); draw(); }
        document.getElementById("all").addEventListener("click", () => setAll(true));
        document.getElementById("none").addEventListener("click", () => setAll(false));
        layerSel.addEventListener("change", draw);
        // the tokens are drawn once (so the one under the mouse is never replaced and always gets its mouseleave);
        // draw() redraws only the lines, in their own group under the tokens
        const lines = document.createElementNS(svgNs, "g");
        lines.setAttribute("pointer-events", "none");
        svg.appendChild(lines);
        const queries = [];
        function text(x, y, s, anchor, i, side) {
          const e = document.createElementNS(svgNs, "text");
          e.setAttribute("x", x); e.setAttribute("y", y); e.setAttribute("text-anchor", anchor); e.setAttribute("dominant-baseline", "middle");
          e.textContent = s; e.dataset.index = i; e.dataset.side = side;
          if (side === "query") {
            e.addEventListener("mouseenter", () => { if (pinned < 0) { hovered = i; draw(); } });
            e.addEventListener("mouseleave", () => { if (pinned < 0) { hovered = -1; draw(); } });
            e.addEventListener("click", () => { pinned = pinned === i ? -1 : i; hovered = pinned; draw(); });
            queries.push(e);
          }
          svg.appendChild(e);
        }
        data.tokens.forEach((s, i) => { text(left, y0 + i * row, s, "end", i, "query"); text(right, y0 + i * row, s, "start", i, "key"); });
        function draw() {
          while (lines.firstChild) lines.removeChild(lines.firstChild);
          queries.forEach((e, i) => { e.classList.toggle("active", i === hovered); e.classList.toggle("pinned", i === pinned); });
          const l = +layerSel.value, on = selected.filter(x => x).length || 1;
          for (let h = 0; h < H; h++) {
            if (!selected[h]) continue;
            const m = data.attention[l][h];
            for (let i = 0; i < T; i++) {
              if (hovered >= 0 && i !== hovered) continue;
              for (let j = 0; j < T; j++) {
                const w = m[i][j];
                if (w < 0.01) continue;
                const line = document.createElementNS(svgNs, "line");
                line.setAttribute("x1", left + 8); line.setAttribute("y1", y0 + i * row);
                line.setAttribute("x2", right - 8); line.setAttribute("y2", y0 + j * row);
                line.setAttribute("stroke", colour(h)); line.setAttribute("stroke-width", 2);
                line.setAttribute("stroke-opacity", Math.min(1, hovered >= 0 ? w : w / Math.sqrt(on)));
                line.dataset.head = h;
                lines.appendChild(line);
              }
            }
          }
        }
        draw();
        // inside a frame (the book's site embeds the view): tell the page how tall to make the frame
        if (window.parent !== window) window.parent.postMessage({ attnFrameHeight: document.documentElement.scrollHeight + 4 }, "*");
        })();
        """;
}
