var builder = WebApplication.CreateBuilder(args);
var app = builder.Build();

var summaries = new[] { "Freezing", "Cool", "Mild", "Warm", "Hot" };

app.MapGet("/healthz", () => Results.Ok(new { status = "ok" }));
app.MapGet("/forecast", () =>
    Enumerable.Range(1, 5).Select(day => new
    {
        Date = DateOnly.FromDateTime(DateTime.Now.AddDays(day)),
        Summary = summaries[Random.Shared.Next(summaries.Length)],
    }));

app.Run();
