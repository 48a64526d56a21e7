/** The report's stylesheet, inlined in the page (the page loads nothing). */
export const PAGE_CSS = `
body { font: 15px/1.5 system-ui, sans-serif; color: #111827; max-width: 1000px; margin: 2rem auto; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; } h2 { border-top: 2px solid #e5e7eb; padding-top: 1.2rem; margin-top: 2.5rem; }
h3 { font-size: 1.05rem; margin: 1.4rem 0 .4rem; color: #374151; }
.meta { color: #4b5563; } .what { font-size: 1.05rem; }
nav ol { columns: 2; } nav .pass::after { content: " ✔"; color: #16a34a; } nav .fail::after { content: " ✘"; color: #dc2626; }
table { border-collapse: collapse; margin: .5rem 0; } th, td { border: 1px solid #e5e7eb; padding: .25rem .6rem; text-align: right; }
th[scope=row], .attributes th { text-align: left; font-weight: 500; } thead th.bad { background: #fef2f2; } thead th.good { background: #f0fdf4; }
.checks { list-style: none; padding: 0; } .checks .pass .mark { color: #16a34a; } .checks .fail .mark { color: #dc2626; }
figure.chart { margin: .8rem 0 1.2rem; overflow-x: auto; } figcaption { color: #4b5563; font-size: .9rem; }
`;
