//! A typed stream function, end to end; exits 0 when every step worked.
//!
//! Registered users arrive on `users`. The function `enrich-users` reads each
//! `User`, turns it into a typed `UserView` (with the user's age group), writes it
//! to `user-views`, and routes a copy to `users-<country>` (`users-NO`,
//! `users-SE`, … or `users-other`) with [`Context::publish`]. It keeps a count of
//! users per country in its keyed state, effectively once: run it in several
//! processes and they share the users by key; kill one and another takes over its
//! partitions with their counts.
//!
//! ```text
//! cargo run --example functions
//! runnel function list            # while it runs: enrich-users, kind rust, 1 instance
//! ```
//! Honours `RUNNEL_URL` (default `http://127.0.0.1:6650`).

use std::collections::BTreeMap;
use std::time::Duration;

use anyhow::{ensure, Context as _};
use runnel::function::{Context, FunctionError};
use runnel::{Avro, Client, NewTopic, Producer};

/// A registered user, as the sign-up service writes it.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.users")]
struct User {
    name: String,
    age: i32,
    country: String,
}

/// What other services read: the user with derived fields.
#[derive(Avro, Debug, Clone, PartialEq)]
#[avro(namespace = "com.example.users")]
struct UserView {
    name: String,
    country: String,
    age_group: String,
    /// How many users of this country were registered before and with this one.
    country_rank: i64,
}

const COUNTRIES: [&str; 3] = ["NO", "SE", "other"];

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let url = std::env::var("RUNNEL_URL").unwrap_or_else(|_| "http://127.0.0.1:6650".into());
    let client = Client::connect(url).await?;
    let stamp = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_millis();
    // Fresh names per run, so the example can run again on the same server.
    let (users, views, name) =
        (format!("users-{stamp}"), format!("user-views-{stamp}"), format!("enrich-users-{stamp}"));
    for (topic, schema) in [(&users, User::schema()), (&views, UserView::schema())] {
        client.register_schema(&format!("{topic}-value"), schema).await?;
        client.create_topic(NewTopic::new(topic.clone()).partitions(2)).await?;
    }
    // One routed topic per country, each a typed producer the function publishes through.
    let mut routes: BTreeMap<&str, Producer<UserView>> = BTreeMap::new();
    for country in COUNTRIES {
        let topic = format!("{users}-{country}");
        client.register_schema(&format!("{topic}-value"), UserView::schema()).await?;
        client.create_topic(NewTopic::new(topic.clone())).await?;
        routes.insert(country, client.producer::<UserView>(topic).create().await?);
    }

    // Sign-ups, keyed by country so that one instance ranks each country's users.
    let signups = client.producer::<User>(users.clone()).key(|u: &User| u.country.clone()).create().await?;
    let people = [("Ada", 36, "NO"), ("Bo", 17, "SE"), ("Cy", 70, "NO"), ("Di", 25, "FI"), ("Ed", 15, "NO")];
    for (name, age, country) in people {
        signups.send(&User { name: name.into(), age, country: country.into() }).await?;
    }

    // The function: runs until `stop` fires (here: once the example read the views).
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let function = client
        .function::<User, UserView>(name.clone())
        .input(users.clone())
        .output(views.clone())
        .state::<String, i64>() // users per country
        .run_until(
            move |user: User, ctx: &mut Context<'_>| -> Result<Option<UserView>, FunctionError> {
                let route = COUNTRIES.iter().copied().find(|c| *c == user.country).unwrap_or("other");
                let mut per_country = ctx.state::<String, i64>()?;
                let rank = per_country.get(&route.to_owned())?.unwrap_or(0) + 1;
                per_country.put(&route.to_owned(), &rank);
                let age_group = match user.age {
                    ..=17 => "minor",
                    18..=64 => "adult",
                    _ => "senior",
                };
                let view = UserView {
                    name: user.name,
                    country: user.country,
                    age_group: age_group.into(),
                    country_rank: rank,
                };
                ctx.publish(&routes[route], &view);
                ctx.count(&format!("users.{route}"), 1);
                Ok(Some(view))
            },
            async move {
                let _ = stop_rx.await;
            },
        );
    let running = tokio::spawn(function);

    let mut consumer = client.consumer::<UserView>(views.clone()).subscribe().await?;
    let mut seen = Vec::new();
    while seen.len() < people.len() {
        let msg = tokio::time::timeout(Duration::from_secs(20), consumer.next())
            .await
            .context("no view within 20 s")?
            .context("the consumer ended")??;
        println!("view: {:?}", msg.value());
        seen.push(msg.into_value());
    }
    let no: Vec<i64> = seen.iter().filter(|v| v.country == "NO").map(|v| v.country_rank).collect();
    ensure!(no == [1, 2, 3], "Norwegians ranked in sign-up order, got {no:?}");
    let mut other = client.consumer::<UserView>(format!("{users}-other")).subscribe().await?;
    let routed = tokio::time::timeout(Duration::from_secs(20), other.next()).await?.context("ended")??;
    ensure!(routed.value().name == "Di", "FI is routed to -other");
    println!("routed to {users}-other: {:?}", routed.value());

    let _ = stop_tx.send(());
    running.await??;
    client.delete_function(&name).await.ok(); // forget it (its instance has left)
    println!("ok");
    Ok(())
}
