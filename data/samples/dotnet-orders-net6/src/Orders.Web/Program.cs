var app = WebApplication.CreateBuilder(args).Build();

app.MapGet("/orders/{id:int}", (int id) => Results.Ok(new { id, status = "shipped" }));

app.Run();
